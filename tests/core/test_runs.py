"""run.json read back: the package settings that training's scoring and time budget follow."""
import json

from monet.core import params as P, runs


def test_package_params_fill_the_quality_and_read_a_bool_era_colour_match(tmp_path):
    assert runs.package_params(tmp_path) == {"jpeg_quality": 75, "colour_match": "off"}  # no run.json yet
    cfg = P.validate({"package": {"mode_filter": 5, "colour_match": "histogram", "jpeg_quality": 90}})
    (tmp_path / "run.json").write_text(json.dumps({"params": cfg}))
    pkg = runs.package_params(tmp_path)
    assert (pkg["mode_filter"], pkg["colour_match"], pkg["jpeg_quality"]) == (5, "histogram", 90)
    # run.json files written while colour_match was a bool, and before jpeg_quality existed
    (tmp_path / "run.json").write_text(json.dumps({"params": {"package": {"colour_match": True}}}))
    assert runs.package_params(tmp_path) == {"jpeg_quality": 75, "colour_match": "mean_sd"}
    (tmp_path / "run.json").write_text(json.dumps({"params": {"package": {"colour_match": False}}}))
    assert runs.package_params(tmp_path)["colour_match"] == "off"
