"""Where the pipeline runs, detected in one place, and each environment's default folders.

Kaggle (``KAGGLE_KERNEL_RUN_TYPE`` is set) is checked before Colab (``google.colab`` is importable), then local.
An explicit param or option always wins over these defaults.

``MONET_KAGGLE_ROOT`` replaces the root ``/kaggle`` (so ``$MONET_KAGGLE_ROOT/input/gan-getting-started`` is the
competition mount and ``$MONET_KAGGLE_ROOT/working`` the output folder), which lets tests build a fake Kaggle tree
from generated data.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path

COMPETITION = "gan-getting-started"
KAGGLE_BUDGET_MINUTES = 270  # of the 300 a Kaggle notebook may run: room to write and check images.zip
ENVIRONMENTS = ("kaggle", "colab", "local")


def detect() -> str:
    """'kaggle', 'colab' or 'local'."""
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ:
        return "kaggle"
    try:
        if importlib.util.find_spec("google.colab") is not None:
            return "colab"
    except (ImportError, ValueError):
        pass
    return "local"


def kaggle_root() -> Path:
    return Path(os.environ.get("MONET_KAGGLE_ROOT", "/kaggle"))


def kaggle_input() -> Path:
    """The read-only competition mount of a Kaggle kernel."""
    return kaggle_root() / "input" / COMPETITION


def kaggle_working() -> Path:
    """A Kaggle kernel's output folder (what Kaggle keeps and submits from)."""
    return kaggle_root() / "working"


def default_outputs(repo: Path, env: str | None = None) -> Path:
    """Where run folders go: Kaggle's working folder, Colab's /content, else the repository's outputs/."""
    env = env or detect()
    if env == "kaggle":
        return kaggle_working() / "outputs"
    if env == "colab":
        return Path("/content/outputs")
    return Path(repo) / "outputs"


def default_download_dir(repo: Path, env: str | None = None) -> Path:
    """Where ``data_dir: kaggle`` downloads the competition (on Kaggle itself the mount is used instead)."""
    env = env or detect()
    if env == "colab":
        return Path("/content") / COMPETITION
    return Path(repo) / "data" / COMPETITION


def default_time_budget_minutes(env: str | None = None) -> int | None:
    """The time budget when the params give none: 270 minutes on Kaggle, none elsewhere."""
    return KAGGLE_BUDGET_MINUTES if (env or detect()) == "kaggle" else None


# The stages that sum gradients over threads: with deterministic they run with oneDNN off. Packaging and scoring
# only run forward passes, whose results the end-to-end tests check to be byte-identical with oneDNN on (it makes
# inference about 5x faster on a CPU).
GRADIENT_STAGES = ("cyclegan_train", "nst_generate")


def tensorflow_environment(deterministic: bool = False, verbose: bool = False) -> dict[str, str]:
    """The environment variables TensorFlow must see when it loads: its C++ start-up lines silenced unless
    ``verbose`` (warnings and errors still show), and oneDNN's custom operations off when ``deterministic``
    (the sums of its gradient kernels can depend on thread scheduling, which op determinism does not control)."""
    env = {"TF_CPP_MIN_LOG_LEVEL": "0" if verbose else "2"}
    if deterministic:
        env["TF_ENABLE_ONEDNN_OPTS"] = "0"
    return env


VERBOSE_ENV = "MONET_VERBOSE"  # pipeline.py --verbose sets it for the stages' kernels

# What TensorFlow writes to the process's stderr while it loads, before any log level applies (the oneDNN notice
# prints even at TF_CPP_MIN_LOG_LEVEL=3), and CUDA's plugin re-registration lines: start-up noise, not warnings.
STARTUP_NOISE = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on",
                 "This TensorFlow binary is optimized to use available CPU instructions",
                 "To enable the following instructions", "rebuild TensorFlow with the",
                 "Unable to register cuDNN factory", "Unable to register cuFFT factory", "Unable to register cuBLAS",
                 "computation placer already registered", "TF-TRT Warning: Could not find TensorRT")


# Lines TensorFlow writes while it runs that look like failures and are not: grappler's remapper declining a fusion
# (an "E0000" line on the first step of a model with a fused conv), deprecation notes, retracing notices.
RUNTIME_NOISE = ("remapper failed", "Instructions for updating", "is deprecated and will be removed",
                 "Use `tf.image.resize(", "triggered tf.function retracing", "I0000 00:00",
                 "absl::InitializeLog", "Compiled cluster using XLA")
QUIET = STARTUP_NOISE + RUNTIME_NOISE


# A fatal message is never noise, whatever file it comes from (absl's "F<date>" prefix, CHECK failures): a CPU
# without AVX is refused by cpu_feature_guard.cc with one.
FATAL_MARKS = ("FATAL", "Check failed", "Fatal Python error")
LOAD_LOG_ENV = "MONET_TF_LOAD_LOG"  # where prepare_tensorflow holds TensorFlow's load-time lines (pipeline.py sets it)


def is_noise(line: str, keep=STARTUP_NOISE) -> bool:
    """Whether a line TensorFlow wrote while loading is start-up noise (fatal lines never are)."""
    fatal = line[:1] == "F" and line[1:5].isdigit() or any(mark in line for mark in FATAL_MARKS)
    return not fatal and any(noise in line for noise in keep)


def load_log_lines(path: str | Path, last: int = 20) -> str:
    """What a process that died left in its held-lines file ``path`` (while loading TensorFlow, or later: see
    :func:`quiet_runtime_lines`), less the noise: its last ``last`` lines."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "".join([ln for ln in text.splitlines(keepends=True) if not is_noise(ln, QUIET)][-last:])


def verbose_requested() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def prepare_tensorflow(deterministic: bool = False, verbose: bool | None = None) -> None:
    """Set :func:`tensorflow_environment` in this process, then load TensorFlow with its start-up lines held back
    (unless ``verbose``, by default ``MONET_VERBOSE``): anything else it writes while loading still shows. A
    notebook's first import cell calls it. Once TensorFlow is loaded the settings no longer take effect; training
    then refuses ``deterministic`` with a clear error rather than promising what it cannot keep."""
    import sys

    verbose = verbose_requested() if verbose is None else verbose
    for key, value in tensorflow_environment(deterministic, verbose).items():
        if key == "TF_CPP_MIN_LOG_LEVEL" and not verbose and key in os.environ:
            continue  # the user's own log level wins
        os.environ[key] = value
    if "tensorflow" in sys.modules:
        if deterministic:
            import warnings

            warnings.warn("TensorFlow was imported before prepare_tensorflow(deterministic=True): restart the kernel "
                          "and run this cell first", stacklevel=2)
        return
    with held_stderr(keep=None if verbose else STARTUP_NOISE):
        importlib.import_module("tensorflow")
    if not verbose:
        quiet_runtime_lines()


_QUIET_RUNTIME: dict = {}


def quiet_runtime_lines(drop=QUIET, every: float = 0.2) -> Path | None:
    """From now on in this process, TensorFlow's lines that look like failures and are not (``RUNTIME_NOISE``, e.g.
    grappler's "remapper failed" on the first step) are dropped; every other line of file descriptor 2 still
    reaches the original stderr, in order, within ``every`` seconds. Lines go through a file (``MONET_TF_LOAD_LOG``,
    else a temporary one, removed at a normal exit) that a thread follows: a process that dies (a C++ abort) leaves
    its last words there for pipeline.py to report. At exit the rest is forwarded and fd 2 restored. Once per
    process; returns the file."""
    import atexit
    import sys
    import tempfile
    import threading

    if _QUIET_RUNTIME:
        return _QUIET_RUNTIME["path"]
    sys.stderr.flush()
    named = os.environ.get(LOAD_LOG_ENV)
    if named:
        path = named
    else:
        fd, path = tempfile.mkstemp(prefix="monet-tensorflow-", suffix=".log")
        os.close(fd)
    sink, source = open(path, "ab"), open(path, "rb")
    source.seek(0, os.SEEK_END)
    original = os.dup(2)
    os.dup2(sink.fileno(), 2)
    stop, lock, rest = threading.Event(), threading.Lock(), [b""]

    def forward():
        with lock:
            chunk = rest[0] + source.read()
            *lines, rest[0] = chunk.split(b"\n")
            shown = [ln + b"\n" for ln in lines if not is_noise(ln.decode(errors="replace"), drop)]
            if shown:
                os.write(original, b"".join(shown))

    def follow():
        while not stop.wait(every):
            forward()

    follower = threading.Thread(target=follow, daemon=True, name="monet-stderr")

    def close():
        stop.set()
        follower.join(timeout=2)
        sys.stderr.flush()
        forward()
        with lock:
            if rest[0] and not is_noise(rest[0].decode(errors="replace"), drop):
                os.write(original, rest[0] + b"\n")
            rest[0] = b""
        os.dup2(original, 2)  # what the interpreter writes while it shuts down goes straight out
        sink.close()
        source.close()
        if not named:
            Path(path).unlink(missing_ok=True)

    follower.start()
    atexit.register(close)
    _QUIET_RUNTIME.update(path=path, close=close)
    return Path(path)


@contextlib.contextmanager
def held_stderr(keep=QUIET):
    """Send file descriptor 2 (where C++ code writes) to a named file meanwhile (``MONET_TF_LOAD_LOG``, else a
    temporary one); then write back every line that is not noise (all lines when ``keep`` is None) and remove it.
    A process that dies while loading (a CPU without AVX, a CUDA abort) leaves the file, with its message, for
    pipeline.py to report."""
    import sys
    import tempfile

    if keep is None:
        yield
        return
    sys.stderr.flush()
    path = os.environ.get(LOAD_LOG_ENV)
    if path:
        held = open(path, "w+b")
    else:
        fd, path = tempfile.mkstemp(prefix="monet-tensorflow-load-", suffix=".log")
        held = os.fdopen(fd, "w+b")
    saved = os.dup(2)
    os.dup2(held.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        held.seek(0)
        lines = held.read().decode(errors="replace").splitlines(keepends=True)
        held.close()
        Path(path).unlink(missing_ok=True)
        shown = [ln for ln in lines if not is_noise(ln, keep)]
        if shown:
            sys.stderr.write("".join(shown))
            sys.stderr.flush()


def onednn_enabled() -> bool:
    """Whether TensorFlow's oneDNN custom operations are on in this process (decided when TensorFlow loads)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # pragma: no cover - a TensorFlow without this module
        return False
    return bool(_pywrap_util_port.IsMklEnabled())


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and TensorFlow; with ``deterministic`` also turn on TensorFlow's op determinism.

    Op determinism does not cover oneDNN's CPU kernels: how they split a sum among threads can depend on which
    thread runs the op, so a loaded machine may round differently (seen as a resumed history that differed in the
    7th digit). ``deterministic`` therefore needs oneDNN off, which only works before TensorFlow loads: pipeline.py
    and the notebooks' first import cell (``environment.prepare_tensorflow``) do it; anyone else gets this error.
    """
    import keras
    import tensorflow as tf

    if deterministic and onednn_enabled():
        raise RuntimeError("deterministic: true needs TensorFlow's oneDNN operations off (their results depend on "
                           "thread scheduling); set TF_ENABLE_ONEDNN_OPTS=0 before TensorFlow is imported, e.g. "
                           "call monet.core.environment.prepare_tensorflow(deterministic=True) first")
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
