"""compare: runs as columns, only the params that differ where their stage ran, each run's status, a strip that
says why a cell is empty; and every figure's text fits inside it."""
import io
import json
import zipfile

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from monet.core import params, plots
from monet.core.runs import write_run_json
from monet.scoring import compare


def _jpeg(color) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((256, 256, 3), color, np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _run(root, name, photo_names, stages, status, zipped=True, **param_changes):
    """A run folder as pipeline.py leaves it: run.json, a manifest of its photos, and its images.zip."""
    run = root / name
    (run / "data" / "photos").mkdir(parents=True)
    with open(run / "data" / "manifest.csv", "w") as fh:
        fh.write("domain,name,path,source\n")
        for i, n in enumerate(photo_names):
            path = run / "data" / "photos" / f"{n}.jpg"
            path.write_bytes(_jpeg(20 * i))
            fh.write(f"photo,{n},{path},{path}\n")
    if zipped:
        with zipfile.ZipFile(run / "images.zip", "w") as zf:
            for n in photo_names:
                zf.writestr(f"{n}.jpg", _jpeg(200))
        (run / "submission").mkdir()
        (run / "submission" / "summary.json").write_text(json.dumps({"count": len(photo_names)}))
    p = params.defaults()
    for key, value in param_changes.items():
        section, _, leaf = key.partition("__")
        p[section][leaf] = value
    write_run_json(run, {"params": p, "status": status, "stages": {
        s: {"status": st, "seconds": 10.0} for s, st in stages.items()}})
    return run


@pytest.fixture()
def three_runs(tmp_path):
    """The quickstart, a run on other (real) data, and a run whose packaging failed."""
    done = {"fetch": "done", "cyclegan_train": "done", "package_submission": "done"}
    quick = _run(tmp_path, "quickstart", ["p1", "p2", "p3"], {**done, "nst_generate": "done"}, "done",
                 cyclegan__epochs=1, nst__limit=8)
    real = _run(tmp_path, "real", ["r1", "r2"], done, "done", cyclegan__epochs=5, nst__limit=99)
    failed = _run(tmp_path, "failed", ["p1", "p2", "p3"], {**done, "package_submission": "failed"}, "failed",
                  zipped=False, cyclegan__epochs=5, nst__limit=3, evaluate__epsilon=0.2)
    return [quick, real, failed]


def test_runs_as_columns_with_status_and_only_params_that_differ_where_they_ran(three_runs, tmp_path):
    result = compare.compare(three_runs, tmp_path / "cmp", photos=2)
    assert result["header"] == ["", "quickstart", "real", "failed"]
    rows = {row[0]: row[1:] for row in result["rows"]}
    assert rows["status"] == ["done", "done", "failed (package_submission)"]
    assert rows["cyclegan.epochs"] == ["1", "5", "5"]
    # nst ran in the quickstart only: its limit differs between runs, but only one run used it
    assert "nst.limit" not in rows and not any(k.startswith(("nst.", "evaluate.")) for k in rows)
    assert rows["images"] == ["3", "2", compare.NOT_RUN]
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| status | done | done | failed (package_submission) |" in md and "One column a run" in md


def test_strip_says_why_a_cell_is_empty(three_runs, tmp_path, monkeypatch):
    seen = {}

    def grid(rows, path, row_titles=None, col_titles=None, title=None):
        seen.update(rows=rows, titles=row_titles)
        return path

    monkeypatch.setattr(plots, "image_grid", grid)
    compare._strip([compare.load_run(r) for r in three_runs], tmp_path / "strip.png", 2)
    assert seen["titles"][0] == "photo" and seen["titles"][1] == "quickstart"
    assert "did not translate these photos" in seen["titles"][2]  # other data
    assert "no images: failed (package_submission)" in seen["titles"][3]
    # the photos shown are those every run with images translated... here none are common, so the first run's
    assert len(seen["rows"][0]) == 2


def _capture(monkeypatch):
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: (figures.append(fig), path)[1])
    return figures


LONG = "a-very-long-run-name-that-someone-typed-for-an-experiment-with-many-levers-and-a-date-2026-11-29"


def test_every_figure_keeps_its_text_inside(monkeypatch, tmp_path):
    figures = _capture(monkeypatch)
    img = np.zeros((256, 256, 3), np.uint8)
    warning = ("Generated images closest to a training painting\nnetwork: random InceptionV3 weights (the machinery "
               "only): NOT comparable to Kaggle's figures, which use the 2015 Inception graph")
    plots.image_grid([[img, img]] * 4, tmp_path / "nearest.png", col_titles=["generated", "nearest painting"],
                     row_titles=[f"d={0.123:.3f}"] * 4, title=warning)
    plots.image_grid([[img] * 8] * 3, tmp_path / "strip.png", row_titles=["photo", LONG, LONG + " (no images: failed)"],
                     title="The same photos as each run submitted them")
    history = [{"epoch": 1 + i // 5, "global_step": i + 1, "gen_g_loss": 1.0, "disc_y_loss": 0.5} for i in range(10)]
    plots.loss_curves(history, ["gen_g_loss", "disc_y_loss"], tmp_path / "l.png", title="Training losses of " + LONG)
    plots.loss_traces({f"{LONG}-{i}": [3.0, 2.0, 1.0] for i in range(8)}, tmp_path / "t.png",
                      title="NST loss per iteration " + LONG)
    plots.checkpoint_scores([{"checkpoint": "epoch_0001_step_000010", "global_step": 10, "mifid": 50.0}],
                            "epoch_0001_step_000010", tmp_path / "c.png", "Keras InceptionV3 weights " + LONG)
    rows = [{"global_step": i + 1, "gen_g_loss": 1.0, "disc_y_loss": 0.5, "cycle_loss": 2.0} for i in range(10)]
    plots.loss_comparison([(LONG, rows, 5), ("b", rows, 5)], ["gen_g_loss", "disc_y_loss", "cycle_loss"],
                          tmp_path / "cmp.png")
    assert len(figures) == 6
    for fig in figures:
        fig.tight_layout()
        assert plots.overflowing_texts(fig) == []
        plt.close(fig)


def test_overflowing_texts_finds_a_title_wider_than_its_figure():
    fig, ax = plt.subplots(figsize=(2, 2))
    fig.suptitle(LONG)
    assert plots.overflowing_texts(fig) == [LONG]
    plt.close(fig)
