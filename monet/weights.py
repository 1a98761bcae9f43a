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
