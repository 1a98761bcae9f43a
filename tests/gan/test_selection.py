"""Checkpoint selection ranked by MiFID or by the judge (score_by), and the judge's figures in the scorer."""
import csv

import numpy as np
import pytest

from monet.gan import selection


def _tiny_generator():
    import keras

    from monet.models import networks

    keras.utils.set_random_seed(0)
    return networks.generator(kind="resnet", filters=1, down_blocks=1, res_blocks=0)


@pytest.mark.parametrize("by, chosen", [("mifid", "epoch_0001"), ("kid", "epoch_0002"), ("c2st", "epoch_0003")])
def test_score_by_ranks_by_its_own_figure(tmp_path, by, chosen):
    figures = {"epoch_0001": {"fid": 1.0, "memorization_distance": 0.5, "mifid": 2.0, "kid": 0.3, "c2st_accuracy": 0.9},
               "epoch_0002": {"fid": 2.0, "memorization_distance": 0.5, "mifid": 4.0, "kid": 0.1, "c2st_accuracy": 0.8},
               "epoch_0003": {"fid": 3.0, "memorization_distance": 0.5, "mifid": 6.0, "kid": 0.2, "c2st_accuracy": 0.6}}
    candidates = [({"epoch": i, "global_step": 10 * i}, tmp_path / "checkpoints" / f"epoch_000{i}") for i in (3, 2, 1)]
    generator = _tiny_generator()
    result = selection.score_checkpoints(candidates, lambda folder: generator, lambda g, folder: figures[folder.name],
                                         tmp_path, "a network", log=lambda *_: None, by=by)
    assert result["chosen"]["checkpoint"] == chosen
    assert selection.RANKS[by] in result["note"]
    with open(tmp_path / "checkpoint_scores.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["checkpoint"]: float(r["kid"]) for r in rows} == {k: v["kid"] for k, v in figures.items()}
    assert (tmp_path / "checkpoint_scores.png").is_file() and (tmp_path / "generator.keras").is_file()


@pytest.mark.slow
def test_the_scorer_adds_the_judges_figure_when_asked(small_run):
    from monet.data import fetch

    photos = [r["path"] for r in fetch.read_manifest(small_run)["photo"]][:12]
    generator = _tiny_generator()
    by_kid = selection.feature_scorer(small_run, photos, "none", batch_size=6, log=lambda *_: None, score_by="kid")(
        generator, None)
    assert np.isfinite(by_kid["kid"]) and "c2st_accuracy" not in by_kid and np.isfinite(by_kid["mifid"])
    plain = selection.feature_scorer(small_run, photos, "none", batch_size=6, log=lambda *_: None)(generator, None)
    assert "kid" not in plain and plain["mifid"] == pytest.approx(by_kid["mifid"], rel=1e-5)
