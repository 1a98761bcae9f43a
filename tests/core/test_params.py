"""The schema: literal YAML, validation errors that name file and key, overrides, every params file."""
import ast
from pathlib import Path

import papermill as pm
import pytest

from monet.core import params as P, schema

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", sorted((REPO / "params").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_params_file_validates(path):
    p = P.load_params(path)
    assert p["stages"] and p["description"], "each params file says what it is"


def test_report_experiments_have_the_reports_values():
    exp1, exp2, best = (P.load_params(REPO / "params" / f"{n}.yaml")["cyclegan"] for n in ("exp1", "exp2", "best"))
    for c in (exp1, exp2, best):
        assert (c["batch_size"], c["learning_rate"], c["disc_kernel"], c["disc_strides"], c["disc_activation"]) == \
            (1, 1e-4, 2, 2, "relu")
        assert (c["disc_out_kernel"], c["disc_out_stride"], c["disc_out_padding"]) == (4, 1, "valid")
        assert (c["gen_filters"], c["gen_down_blocks"], c["gen_res_blocks"]) == (64, 2, 9)
    assert (exp1["epochs"], exp1["disc_blocks"], exp1["disc_filters"]) == (10, 3, 8)
    assert (exp2["epochs"], exp2["disc_blocks"], exp2["disc_filters"]) == (20, 4, 64)
    assert (best["epochs"], best["disc_blocks"], best["disc_filters"]) == (30, 3, 8)


def test_yaml_is_literal():
    doc = P.parse_yaml("a: 1e-4\nb: 2024-01-01\nc: yes\nd: 010\ne: 1.0e-4\nf: .inf\ng: ~\nh: true\ni: 0x10\n")
    assert doc == {"a": 1e-4, "b": "2024-01-01", "c": "yes", "d": 10, "e": 1e-4, "f": float("inf"), "g": None,
                   "h": True, "i": "0x10"}
    assert isinstance(doc["a"], float)


def test_duplicate_key_is_an_error(tmp_path):
    with pytest.raises(P.ParamsError, match="given twice"):
        P.load_params(write(tmp_path, "seed: 1\nseed: 2\n"))


def test_unknown_key_names_file_key_and_valid_keys(tmp_path):
    path = write(tmp_path, "cyclegan:\n  epoch: 3\n")
    with pytest.raises(P.ParamsError) as err:
        P.load_params(path)
    msg = str(err.value)
    assert str(path) in msg and "cyclegan.epoch" in msg and "did you mean 'epochs'" in msg
    assert "batch_size" in msg and "lambda_cycle" in msg  # the valid keys are listed
    with pytest.raises(P.ParamsError, match="unknown key 'sed'.*did you mean 'seed'"):
        P.load_params(write(tmp_path, "sed: 1\n"))


def test_wrong_types_and_values_all_reported(tmp_path):
    path = write(tmp_path, "seed: one\ndeterministic: yes\ncyclegan:\n  epochs: 0\n  adversarial_loss: wgan\n"
                           "  learning_rate: fast\n")
    with pytest.raises(P.ParamsError) as err:
        P.load_params(path)
    msg = str(err.value)
    assert "5 problem(s)" in msg
    assert "key 'seed': expected int" in msg and "'one'" in msg
    assert "key 'deterministic': expected bool" in msg
    assert "key 'cyclegan.epochs': 0 is below the minimum 1" in msg
    assert "'wgan' is not one of lsgan, bce" in msg
    assert "key 'cyclegan.learning_rate': expected float" in msg


def test_int_is_accepted_for_float_but_not_bool_for_int(tmp_path):
    p = P.load_params(write(tmp_path, "cyclegan:\n  learning_rate: 1\n"))
    assert p["cyclegan"]["learning_rate"] == 1.0 and isinstance(p["cyclegan"]["learning_rate"], float)
    with pytest.raises(P.ParamsError, match="cyclegan.epochs"):
        P.load_params(write(tmp_path, "cyclegan:\n  epochs: true\n"))


def test_cross_checks(tmp_path):
    with pytest.raises(P.ParamsError, match="2 strides given for cyclegan.disc_blocks = 3"):
        P.load_params(write(tmp_path, "cyclegan:\n  disc_blocks: 3\n  disc_strides: [2, 2]\n"))
    with pytest.raises(P.ParamsError, match="chain order"):
        P.load_params(write(tmp_path, "stages: [package_submission, fetch]\n"))
    with pytest.raises(P.ParamsError, match="'nst' is not one of"):
        P.load_params(write(tmp_path, "stages: [fetch, nst]\n"))
    spread = "cyclegan:\n  spread_checkpoints: true\n"
    with pytest.raises(P.ParamsError, match="spread_checkpoints': .* need at least 3 .* cyclegan.keep_checkpoints = 2"):
        P.load_params(write(tmp_path, spread))  # keep_checkpoints' default
    with pytest.raises(P.ParamsError, match="cyclegan.score_checkpoints = 2"):
        P.load_params(write(tmp_path, spread + "  keep_checkpoints: 0\n  score_checkpoints: 2\n"))
    assert P.load_params(write(tmp_path, spread + "  keep_checkpoints: 0\n  score_checkpoints: 3\n"))


def test_overrides_are_typed_and_validated(tmp_path):
    path = write(tmp_path, "cyclegan:\n  epochs: 2\n")
    p = P.load_params(path, ["cyclegan.epochs=5", "cyclegan.learning_rate=3e-4", "data_dir=/x/y",
                             "cyclegan.disc_strides=[2, 2, 1, 1]", "cyclegan.steps_per_epoch=null"])
    assert p["cyclegan"]["epochs"] == 5 and p["cyclegan"]["learning_rate"] == 3e-4
    assert p["data_dir"] == "/x/y" and p["cyclegan"]["disc_strides"] == [2, 2, 1, 1]
    assert p["cyclegan"]["steps_per_epoch"] is None
    with pytest.raises(P.ParamsError, match="cyclegan.epochs': expected int"):
        P.load_params(path, ["cyclegan.epochs=many"])
    with pytest.raises(P.ParamsError, match="unknown key 'cyclegan.epoch'"):
        P.load_params(path, ["cyclegan.epoch=3"])
    with pytest.raises(P.ParamsError, match="expected key=value"):
        P.load_params(path, ["cyclegan.epochs"])


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(P.ParamsError, match="not found"):
        P.load_params(tmp_path / "nope.yaml")
    with pytest.raises(P.ParamsError, match="expected a mapping"):
        P.load_params(write(tmp_path, "- a\n- b\n"))


@pytest.mark.parametrize("stage", schema.STAGES, ids=lambda s: s.name)
def test_notebook_parameters_match_the_schema(stage):
    """Each notebook declares run_dir plus exactly its stage's keys, with defaults the schema accepts."""
    nb = REPO / "notebooks" / stage.notebook
    declared = pm.inspect_notebook(str(nb))
    assert set(declared) == {"run_dir"} | set(P.notebook_keys(stage.name))
    defaults = {k: ast.literal_eval(v["default"]) for k, v in declared.items() if k != "run_dir"}
    P.validate_stage_parameters(stage.name, defaults, str(nb))


def test_notebooks_are_committed_without_outputs():
    import nbformat

    for nb_path in (REPO / "notebooks").glob("*.ipynb"):
        nb = nbformat.read(str(nb_path), as_version=4)
        assert not any(c.get("outputs") or c.get("execution_count") for c in nb.cells), nb_path


def test_notebooks_share_one_colab_setup_and_load_tensorflow_quietly():
    """The Colab set-up lives in notebooks/colab_setup.py; each notebook calls it in one short cell (no URL, no
    placeholder pasted five times) and loads TensorFlow through environment.prepare_tensorflow (no start-up noise)."""
    import nbformat

    for nb_path in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = [c.source for c in nbformat.read(str(nb_path), as_version=4).cells if c.cell_type == "code"]
        assert "import colab_setup" in cells[0] and len(cells[0].splitlines()) <= 4, nb_path
        assert not any("OWNER/REPO" in c or "git clone" in c for c in cells), nb_path
        imports = next(c for c in cells if "prepare_tensorflow(" in c)
        assert imports.index("prepare_tensorflow(") < imports.index("from monet.core import params") \
            if "from monet.core import params" in imports else "prepare_tensorflow(" in imports, nb_path
    assert "OWNER/REPO" in (REPO / "notebooks" / "colab_setup.py").read_text()


def test_notebook_config_rejects_bad_hand_edits():
    ns = {k: v.default for k, v in P.notebook_keys("package_submission").items()}
    assert P.notebook_config("package_submission", ns)["jpeg_quality"] == 75
    ns["jpeg_quality"] = 101
    with pytest.raises(P.ParamsError, match="package.jpeg_quality"):
        P.notebook_config("package_submission", ns)


def test_the_parameter_reference_documents_the_current_schema():
    assert schema.describe_schema() in (REPO / "docs" / "parameters.md").read_text()


def test_vgg19_layer_list_matches_keras_and_bad_names_fail_early(tmp_path):
    from monet.style import painter

    assert list(schema.VGG19_LAYERS) == painter.vgg19_layer_names()
    with pytest.raises(P.ParamsError, match=r"nst.style_layers': unknown VGG19 layer\(s\) block6_conv1; valid "
                                            r"layers: block1_conv1, block1_conv2, block1_pool"):
        P.load_params(write(tmp_path, "nst:\n  style_layers: [block1_conv1, block6_conv1]\n"))
    with pytest.raises(P.ParamsError, match="nst.content_layer': unknown VGG19 layer"):
        P.load_params(write(tmp_path, "nst:\n  content_layer: conv5\n"))


def test_keys_added_later_keep_the_fingerprints_of_runs_made_before_them():
    """A run stopped before identity_start and train_size existed still skips its done stages (and resumes its
    checkpoints: training fingerprints its cyclegan section the same way); setting one of them changes the plan."""
    from monet import pipeline

    p = P.validate({"stages": ["fetch", "cyclegan_train"]})
    (_, fetch_fp, _), (_, train_fp, _) = pipeline.plan_stages(p, {}, False)
    before = {k: v for k, v in P.stage_parameters(p, "cyclegan_train").items() if k not in P.ADDED_LATER}
    assert train_fp == P.fingerprint({"stage": "cyclegan_train", "params": before, "upstream": fetch_fp})
    for key, value in (("train_size", 128), ("identity_start", True)):
        changed = P.validate({"stages": ["fetch", "cyclegan_train"], "cyclegan": {key: value}})
        assert pipeline.plan_stages(changed, {}, False)[1][1] != train_fp
