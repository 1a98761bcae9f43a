"""What a bundled kernel does before its chain runs: versions checked, an earlier session's run brought in from
its read-only output, the global batch kept; and the machine the bundle names."""
import json

import pytest

from monet.kaggle import bundle as B, kernel as K


def earlier_output(root, run_name="leaderboard", batch=8):
    """A kernel's output as Kaggle mounts it: /kaggle/input/<slug>/outputs/<run>/ with a checkpoint, read-only."""
    run = root / "monet-leaderboard" / "outputs" / run_name
    (run / "cyclegan" / "checkpoints" / "epoch_0001").mkdir(parents=True)
    (run / "run.json").write_text("{}")
    (run / "cyclegan" / "checkpoints" / "epoch_0001" / "checkpoint.json").write_text(json.dumps({"batch_size": batch}))
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    return run


def test_the_earlier_run_is_copied_in_writable_and_its_batch_kept(tmp_path):
    mounted = tmp_path / "input"
    earlier_output(mounted)
    outputs = tmp_path / "working" / "outputs"
    run = K.bring_in("leaderboard", "tester/monet-leaderboard", outputs, mounted)
    assert (run / "run.json").is_file() and run == outputs / "leaderboard"
    assert all(p.stat().st_mode & 0o200 for p in [run, *run.rglob("*")])  # the copy can be written
    assert K.pinned_batch(run, "auto") == 8 and K.pinned_batch(run, 8) == 8
    with pytest.raises(K.ContinuationError, match="trained at global batch 8; this bundle asks cyclegan.batch_size 4"):
        K.pinned_batch(run, 4)
    assert K.pinned_batch(tmp_path, "auto") is None  # nothing trained yet: nothing to keep
    with pytest.raises(K.ContinuationError, match="holds no run folder 'exp1'"):
        K.bring_in("exp1", "tester/monet-leaderboard", outputs, mounted)
    with pytest.raises(K.ContinuationError, match="expected USER/KERNEL"):
        K.kernel_slug("monet-leaderboard")


def test_versions_it_cannot_run_stop_the_kernel_at_once():
    assert K.check_versions({"tensorflow": "2.21.0", "keras": "3.12.0"}) == "tensorflow 2.21.0, keras 3.12.0"
    with pytest.raises(K.ContinuationError, match="keras 2.15.0: this pipeline needs keras 3.3"):
        K.check_versions({"tensorflow": "2.16.1", "keras": "2.15.0"})
    with pytest.raises(K.ContinuationError, match="tensorflow missing"):
        K.check_versions({"keras": "3.12.0"})


def test_the_bundle_names_the_machine_and_pins_the_batch(tmp_path, repo):
    stages = "stages=[fetch, cyclegan_train, package_submission]"
    t4 = B.bundle(repo / "params" / "leaderboard.yaml", "u", tmp_path / "t4", repo=repo, overrides=[stages],
                  continue_from="u/monet-leaderboard")
    meta = json.loads((t4 / "kernel-metadata.json").read_text())
    assert meta["machine_shape"] == "NvidiaTeslaT4" and meta["kernel_sources"] == ["u/monet-leaderboard"]
    notebook = next(t4.glob("*.ipynb")).read_text()
    assert "batch_size: 8" in notebook and "CONTINUE_FROM = 'u/monet-leaderboard'" in notebook
    p100 = B.bundle(repo / "params" / "leaderboard.yaml", "u", tmp_path / "p100", repo=repo,
                    overrides=[stages, "kaggle.machine_shape=NvidiaTeslaP100"])
    assert json.loads((p100 / "kernel-metadata.json").read_text())["machine_shape"] == "NvidiaTeslaP100"
    assert "batch_size: 4" in next(p100.glob("*.ipynb")).read_text()
    with pytest.raises(Exception, match="Tpu1VmV38 is a tpu machine, but kaggle.accelerator is gpu"):
        B.bundle(repo / "params" / "leaderboard.yaml", "u", tmp_path / "x", repo=repo,
                 overrides=[stages, "kaggle.machine_shape=Tpu1VmV38"])
