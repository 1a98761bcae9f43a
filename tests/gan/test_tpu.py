"""The TPU's resolver and strategy choices, with a stand-in resolver (no TPU here): the name the environment gives
first, then the local TPU of a TPU VM; a TPU that is attached but does not start is an error under ``auto``, never
a silent CPU run; no TPU at all is not an error."""
import pytest

from monet.gan import distribute


class StandIn:
    """TPUClusterResolver as a TPU VM without TPU_NAME answers: only ``tpu="local"`` resolves."""

    def __init__(self, local_works=True):
        self.calls, self.local_works = [], local_works

    def __call__(self, tpu=None):
        self.calls.append(tpu)
        if tpu == "local" and self.local_works:
            return f"resolver({tpu})"
        raise ValueError("Please provide a TPU Name to connect to.")


def test_the_resolver_falls_back_to_the_local_tpu():
    factory = StandIn()
    assert distribute.tpu_resolver(factory) == "resolver(local)" and factory.calls == [None, "local"]
    with pytest.raises(ValueError, match="TPU Name"):
        distribute.tpu_resolver(StandIn(local_works=False))


def test_an_attached_tpu_that_does_not_start_is_an_error_not_a_cpu_run():
    with pytest.raises(distribute.TPUError, match="did not start.*Please provide a TPU Name.*strategy: default"):
        distribute.auto_tpu(StandIn(local_works=False), present=True)
    assert distribute.auto_tpu(StandIn(local_works=False), present=False) is None  # no TPU: the next kind


def test_a_tpu_is_seen_from_the_environment_or_its_devices():
    assert not distribute.tpu_present({}, exists=lambda p: False)
    assert distribute.tpu_present({"TPU_NAME": "grpc://10.0.0.2:8470"}, exists=lambda p: False)
    assert distribute.tpu_present({"COLAB_TPU_ADDR": "10.0.0.2:8470"}, exists=lambda p: False)
    assert distribute.tpu_present({}, exists=lambda p: p == "/dev/accel0")  # a TPU VM (Kaggle's, Colab's)


def test_a_tpu_kernel_trains_on_the_tpu_strategy(tmp_path, repo):
    """kaggle.accelerator: tpu implies the TPU strategy in the kernel: strategy auto becomes tpu, so a TPU that
    does not start stops the kernel at once instead of training on its host CPU."""
    from monet.kaggle import bundle as B

    out = B.bundle(repo / "params" / "exp1.yaml", "u", tmp_path / "b", repo=repo,
                   overrides=["kaggle.accelerator=tpu", "stages=[fetch, cyclegan_train, package_submission]"])
    notebook = next(out.glob("*.ipynb")).read_text()
    assert "strategy: tpu" in notebook
    gpu = B.bundle(repo / "params" / "exp1.yaml", "u", tmp_path / "g", repo=repo,
                   overrides=["stages=[fetch, cyclegan_train, package_submission]"])
    assert "strategy: auto" in next(gpu.glob("*.ipynb")).read_text()


def test_strategy_auto_with_an_attached_tpu_that_does_not_start_stops_the_run(monkeypatch):
    """make_strategy('auto') itself: a TPU seen on the machine whose resolver fails (here, TensorFlow's own: there
    is no TPU) is TPUError, not the default strategy; with none seen, the default strategy as before."""
    monkeypatch.setattr(distribute, "tpu_present", lambda *a, **k: True)
    with pytest.raises(distribute.TPUError, match="did not start"):
        distribute.make_strategy("auto")
    monkeypatch.setattr(distribute, "tpu_present", lambda *a, **k: False)
    assert distribute.describe(distribute.make_strategy("auto")).startswith("_DefaultDistributionStrategy")
