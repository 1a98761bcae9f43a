"""Filters applied to each submitted image after the generator and before JPEG encoding. Neither learns anything.

- ``mode_filter``: Pillow's ModeFilter, each channel's most frequent value in a size x size window. It flattens
  small patches and keeps sharp edges, a painterly look.
- ``colour_match``: each image's channels shifted and scaled to the paintings' mean and standard deviation per
  channel.

Both were measured on Kaggle's network (docs/quality.md, "Filters after the generator").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

__all__ = ["Palette", "palette", "mode_filter", "colour_match", "Postprocess"]


@dataclass(frozen=True)
class Palette:
    """Per-channel mean and standard deviation (0-255 levels, RGB) of a set of paintings."""
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def palette(images) -> Palette:
    """The pooled per-channel mean and standard deviation of ``images`` (uint8 HxWx3 arrays, any count)."""
    total, square, count = np.zeros(3), np.zeros(3), 0
    for image in images:
        x = np.asarray(image, dtype=np.float64).reshape(-1, 3)
        total += x.sum(0)
        square += (x * x).sum(0)
        count += len(x)
    if not count:
        raise ValueError("palette: no paintings to take the colours from")
    mean = total / count
    std = np.sqrt(np.maximum(square / count - mean * mean, 0.0))
    return Palette(tuple(float(v) for v in mean), tuple(float(v) for v in std))


def mode_filter(image: np.ndarray, size: int) -> np.ndarray:
    """Pillow's ModeFilter on each channel of a uint8 HxWx3 image: a pixel takes the most frequent value of its
    ``size`` x ``size`` window when that value occurs more than twice, else keeps its own."""
    return np.asarray(Image.fromarray(np.asarray(image, dtype=np.uint8)).filter(ImageFilter.ModeFilter(size)))


def colour_match(image: np.ndarray, target: Palette) -> np.ndarray:
    """A uint8 HxWx3 image with each channel's mean and standard deviation moved to ``target``'s."""
    x = np.asarray(image, dtype=np.float64)
    mean, std = x.mean(axis=(0, 1)), x.std(axis=(0, 1)) + 1e-6
    y = (x - mean) / std * np.asarray(target.std) + np.asarray(target.mean)
    return np.clip(y, 0, 255).round().astype(np.uint8)


@dataclass(frozen=True)
class Postprocess:
    """The filters of ``package``: the mode filter (0: off), then colour matching (None: off)."""
    mode_size: int = 0
    target: Palette | None = None

    def __bool__(self) -> bool:
        return bool(self.mode_size) or self.target is not None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if self.mode_size:
            image = mode_filter(image, self.mode_size)
        if self.target is not None:
            image = colour_match(image, self.target)
        return image

    def describe(self) -> dict:
        out: dict = {}
        if self.mode_size:
            out["mode_filter"] = self.mode_size
        if self.target is not None:
            out["colour_match"] = {"mean": [round(v, 2) for v in self.target.mean],
                                   "std": [round(v, 2) for v in self.target.std]}
        return out
