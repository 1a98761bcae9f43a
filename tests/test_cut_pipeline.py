"""End to end: params/cut_kaggle.yaml (CUT) shrunk with --set, through pipeline.py on generated data, under
mixed_float16 forced on the CPU (net_f's loss-scale optimizer runs for real), to a valid images.zip (about 45 s)."""
import csv
import json

import pytest

from monet.package import images_zip

from tests.test_pipeline import pipeline, stream_text

pytestmark = pytest.mark.e2e

# The README's tiny CUT command, plus float16 (on a GPU the run's own policy).
TINY = ["data_dir=synthetic", "time_budget_minutes=10", "fetch.synthetic_photos=100", "fetch.synthetic_monet=30",
        "package.fit_count=repeat", "cyclegan.gen_filters=1", "cyclegan.disc_filters=4", "cyclegan.disc_blocks=2",
        "cyclegan.disc_strides=2", "cyclegan.num_patches=64", "cyclegan.netf_units=16", "cyclegan.epochs=1",
        "cyclegan.steps_per_epoch=4", "cyclegan.batch_size=2"]


def test_the_cut_params_end_in_a_valid_zip(tmp_path):
    sets = [a for s in TINY + ["cyclegan.mixed_precision=mixed_float16"] for a in ("--set", s)]
    proc = pipeline("--params", "params/cut_kaggle.yaml", "--run-name", "cut", *sets, outputs=tmp_path)
    run = tmp_path / "cut"
    assert "model cut: gen_g 3,233, disc_y 853, net_f 1,712 parameters" in proc.stdout
    assert "NCE layers [0, 1, 2, 3, 7] (padded input, down conv 1, down conv 2, res block 1, res block 5)" in proc.stdout
    assert images_zip.validate_zip(run / "images.zip")["count"] == 7000
    record = json.loads((run / "run.json").read_text())
    assert all(stage["status"] == "done" for stage in record["stages"].values())
    summary = json.loads((run / "cyclegan" / "summary.json").read_text())
    assert summary["model"] == "cut" and summary["global_steps"] == 4 and summary["mixed_precision"] == "mixed_float16"
    assert set(summary["parameters"]) == {"gen_g", "disc_y", "net_f"}
    with open(run / "cyclegan" / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["epoch", "step", "global_step", "gen_g_loss", "disc_y_loss", "nce_loss", "nce_idt_loss",
                             "lr"] and len(rows) == 4
    checkpoint = run / "cyclegan" / "checkpoints" / "epoch_0001"
    assert sorted(p.name for p in checkpoint.glob("*.weights.h5")) == [
        "disc_y.weights.h5", "gen_g.weights.h5", "net_f.weights.h5"]
    assert "Model cut: gen_g 3,233, disc_y 853, net_f 1,712 parameters" in stream_text(run / "02_cyclegan_train.ipynb")
