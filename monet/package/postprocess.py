"""Filters applied to each submitted image after the generator and before JPEG encoding. None learns anything.

- ``mode_filter``: Pillow's ModeFilter, each channel's most frequent value in a size x size window. It flattens
  small patches and keeps sharp edges, a painterly look.
- ``colour_match``: each image's channels shifted and scaled to the paintings' mean and standard deviation per
  channel; ``histogram_match``: each channel's histogram mapped onto the paintings' (the same for every moment);
  ``hsv_histogram_match``: the same in hue, saturation and value (Pillow's HSV), which moves the hues too.
- ``grain``: Gaussian noise on each pixel and channel (or the same on the three, grey), seeded by the image itself
  (a rerun or a shard writes the same bytes). It paints nothing; it moves the images' fine texture toward the
  paintings' as Kaggle's network sees it.

All three were measured on Kaggle's network (docs/quality.md, "Filters after the generator").
"""
from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from monet.data.images import jpeg_bytes

__all__ = ["Palette", "palette", "hsv", "mode_filter", "colour_match", "histogram_match", "hsv_histogram_match",
           "matched_levels", "COLOUR_MATCH", "grain",
           "Postprocess", "AsPackaged"]


@dataclass(frozen=True, eq=False)
class Palette:
    """Per-channel mean and standard deviation (0-255 levels, RGB) of a set of paintings, and each channel's
    cumulative share of pixels at or below each level (``cdf``, 3x256; ``hsv_cdf`` the same in Pillow's HSV)."""
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    cdf: np.ndarray
    hsv_cdf: np.ndarray | None = None


def palette(images) -> Palette:
    """The pooled per-channel mean, standard deviation and level shares (RGB and HSV) of ``images`` (uint8 HxWx3)."""
    counts, hsv_counts = np.zeros((3, 256), np.int64), np.zeros((3, 256), np.int64)
    for image in images:
        x = np.asarray(image, dtype=np.uint8).reshape(-1, 1, 3)
        h = hsv(x)
        for c in range(3):
            counts[c] += np.bincount(x[..., c].ravel(), minlength=256)
            hsv_counts[c] += np.bincount(h[..., c].ravel(), minlength=256)
    total = counts.sum(1)
    if not total.all():
        raise ValueError("palette: no paintings to take the colours from")
    levels = np.arange(256, dtype=np.float64)
    mean = (counts * levels).sum(1) / total
    std = np.sqrt(np.maximum((counts * levels ** 2).sum(1) / total - mean ** 2, 0.0))
    return Palette(tuple(float(v) for v in mean), tuple(float(v) for v in std), np.cumsum(counts, 1) / total[:, None],
                   np.cumsum(hsv_counts, 1) / total[:, None])


def hsv(image: np.ndarray) -> np.ndarray:
    """Pillow's HSV of a uint8 HxWx3 RGB image, each channel 0-255 (hue 0-255 for 0-360 degrees)."""
    return np.asarray(Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("HSV"))


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


def histogram_match(image: np.ndarray, target: Palette) -> np.ndarray:
    """A uint8 HxWx3 image with each channel's levels mapped so that their cumulative shares follow ``target``'s:
    a level whose share of the image's pixels at or below it is h becomes the lowest target level whose share
    reaches h."""
    return matched_levels(image, target.cdf)


def hsv_histogram_match(image: np.ndarray, target: Palette) -> np.ndarray:
    """``histogram_match`` in Pillow's HSV: hue, saturation and value each mapped onto the paintings' (hue as
    levels 0-255, not as a circle: the map is monotone, so red at both ends stays at both ends), back to RGB. The
    8-bit HSV round trip alone moves a level by up to about 6."""
    matched = matched_levels(hsv(image), target.hsv_cdf)
    return np.asarray(Image.fromarray(matched, "HSV").convert("RGB"))


def matched_levels(x: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Each channel of uint8 ``x`` mapped so that its levels' cumulative shares follow ``cdf`` (3x256)."""
    x = np.asarray(x, dtype=np.uint8)
    out = np.empty_like(x)
    for c in range(3):
        own = np.cumsum(np.bincount(x[..., c].ravel(), minlength=256)) / x[..., c].size
        lut = np.searchsorted(cdf[c], own - 1e-12).clip(0, 255).astype(np.uint8)
        out[..., c] = lut[x[..., c]]
    return out


COLOUR_MATCH = {"mean_sd": colour_match, "histogram": histogram_match, "hsv_histogram": hsv_histogram_match}


def grain(image: np.ndarray, sd: float, grey: bool = False) -> np.ndarray:
    """A uint8 HxWx3 image plus Gaussian noise of standard deviation ``sd`` (0-255 levels) on each pixel and
    channel (``grey``: one draw a pixel, added to its three channels), rounded and clipped. The noise is seeded by
    the image's bytes: the same image always gets the same."""
    x = np.asarray(image, dtype=np.uint8)
    rng = np.random.default_rng(zlib.crc32(x.tobytes()))
    noise = rng.normal(0.0, sd, x.shape[:2])[..., None] if grey else rng.normal(0.0, sd, x.shape)
    return np.clip(x + noise, 0, 255).round().astype(np.uint8)


@dataclass(frozen=True, eq=False)
class Postprocess:
    """The filters of ``package``: the mode filter (``mode_size``, 0: off), then colour matching to ``target`` by
    ``how`` (``mean_sd``, ``histogram``, ``hsv_histogram``, or ``off``: ``target`` is then not used), then ``grain``
    (its sd; 0: off; ``grain_grey``: the same noise on the three channels)."""
    mode_size: int = 0
    how: str = "off"
    target: Palette | None = None
    grain: float = 0.0
    grain_grey: bool = False

    def __post_init__(self):
        if self.how != "off" and (self.how not in COLOUR_MATCH or self.target is None):
            raise ValueError(f"colour matching {self.how!r}: expected off, or one of {', '.join(COLOUR_MATCH)} "
                             "with a target palette")
        if self.how == "hsv_histogram" and self.target.hsv_cdf is None:
            raise ValueError("colour matching 'hsv_histogram': the target palette has no HSV levels (hsv_cdf)")

    def __bool__(self) -> bool:
        return bool(self.mode_size) or self.how != "off" or self.grain > 0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if self.mode_size:
            image = mode_filter(image, self.mode_size)
        if self.how != "off":
            image = COLOUR_MATCH[self.how](image, self.target)
        if self.grain > 0:
            image = grain(image, self.grain, self.grain_grey)
        return image

    def describe_short(self) -> str:
        """E.g. ``mode 5x5, histogram``: what a log line names."""
        parts = [f"mode {self.mode_size}x{self.mode_size}"] if self.mode_size else []
        parts += [self.how] if self.how != "off" else []
        grey = " grey" if self.grain_grey else ""
        return ", ".join(parts + ([f"grain sd {self.grain:g}{grey}"] if self.grain > 0 else []))

    def describe(self) -> dict:
        out: dict = {}
        if self.mode_size:
            out["mode_filter"] = self.mode_size
        if self.how != "off":
            out["colour_match"] = {"how": self.how, "mean": [round(v, 2) for v in self.target.mean],
                                   "std": [round(v, 2) for v in self.target.std]}
        if self.grain > 0:
            out["grain"] = self.grain
            out.update({"grain_grey": True} if self.grain_grey else {})
        return out


@dataclass(frozen=True, eq=False)
class AsPackaged:
    """A translated image as ``images.zip`` will hold it: through ``post`` (the package's filters), then JPEG at
    ``quality`` and decoded. Checkpoint scoring ranks these, not the generator's raw output."""
    post: Postprocess
    quality: int

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(jpeg_bytes(self.post(image), self.quality))).convert("RGB"))

    def describe_short(self) -> str:
        filters = self.post.describe_short()
        return f"{filters}, JPEG q{self.quality}" if filters else f"JPEG q{self.quality}"
