"""Telling the same painting apart from a different one, by content: the exact key (a hash of the decoded pixels)
and the near-duplicate test used to keep extra paintings (``fetch.extra_monet``) that the competition's set, or
another extra collection, already holds.

Two images are near duplicates when all three hold, each on a 16x16 RGB thumbnail (box-filtered) of a view:

* their average hashes (the thumbnail in grey, one bit a pixel: above its mean or not) differ in at most
  :data:`HASH_BITS` of 256 bits (the fast filter);
* the thumbnails, each channel standardized (minus its mean, over its standard deviation, at least 4 levels),
  differ on average by at most :data:`NEAR_DISTANCE` standard deviations (insensitive to a colour balance,
  brightness or contrast change of the whole image);
* their mean colours differ by at most :data:`MEAN_LEVELS` levels, averaged over the channels (two flat images of
  different colours are different images).

Measured on the 60 paintings and 200 photos of the competition's data in the shared sample (33,670 distinct
pairs): distinct images were at least 0.307 apart, and the smallest average-hash distance was 8 bits (so the hash
alone would merge distinct images; with the three tests none merged). Compared mirrored, at least 0.302 apart and
4 bits, none merged either (the 60 paintings alone: at least 0.435 apart as they are, 0.470 mirrored). Copies of
the 60 paintings, each through the fetch stage's conversion (JPEG quality 30 and 95; resized to 512 or 1,024 and
back; down to 128 and back; brightness x1.1+5; colour balance x1.12/x0.88 as PNG and at JPEG quality 50; squashed
to 400x300) were all found, within 0.079 and 14 bits, and so were their mirrored copies (as they are, at JPEG
quality 30, resized to 1,024 and back, brightness x1.1+5; found as mirrored, within 0.079). Crops are mostly not:
of copies with 5% cut from each side, 2 of 60 were found.

A view is the 256x256 image itself and, for a source that was not square (and so was centre-cropped), also the
whole source squashed to a square: a collection may have cropped or squashed the same painting. Each view of a new
image is also compared mirrored left-right (its thumbnail flipped, its hash recomputed): training flips paintings,
so a mirrored copy is a duplicate too (``find`` says so).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = ["THUMB", "HASH_BITS", "NEAR_DISTANCE", "MEAN_LEVELS", "ImageKey", "image_key", "Index"]

THUMB = 16
HASH_BITS = 32
NEAR_DISTANCE = 0.15
MEAN_LEVELS = 48.0
_GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)  # set bits of each byte value


def _bit_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The Hamming distances between packed uint8 hashes ``a`` (n, 32) and ``b`` (m, 32): (n, m). A byte lookup
    table, as numpy before 2.0 has no ``bitwise_count``."""
    return _POPCOUNT[a[:, None, :] ^ b[None, :, :]].sum(-1, dtype=np.int64)


@dataclass
class ImageKey:
    """What the duplicate test knows of one image: the SHA-256 of its decoded 256x256 RGB pixels, and per view a
    packed 256-bit average hash and a 16x16x3 uint8 thumbnail."""
    pixels: str
    hashes: np.ndarray   # (views, 32) uint8
    thumbs: np.ndarray   # (views, 16, 16, 3) uint8


def _thumbnail(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB").resize((THUMB, THUMB), Image.BOX), dtype=np.uint8)


def _average_hash(thumb: np.ndarray) -> np.ndarray:
    grey = thumb.astype(np.float32) @ _GREY
    return np.packbits((grey > grey.mean()).ravel())


def image_key(pixels: np.ndarray, whole: Image.Image | None = None) -> ImageKey:
    """The key of an image given its decoded HxWx3 uint8 pixels (what training reads) and, optionally, the whole
    uncropped source it was made from (a second view)."""
    thumbs = [_thumbnail(Image.fromarray(pixels))] + ([_thumbnail(whole)] if whole is not None else [])
    return ImageKey(hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest(),
                    np.stack([_average_hash(t) for t in thumbs]), np.stack(thumbs))


def _standardized(thumbs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = thumbs.astype(np.float32)
    mean = t.mean(axis=(-3, -2), keepdims=True)
    return (t - mean) / np.maximum(t.std(axis=(-3, -2), keepdims=True), 4.0), mean.reshape(len(t), 3)


class Index:
    """The images kept so far; :meth:`find` says whether a new one duplicates any of them."""

    def __init__(self):
        self.names: list[str] = []
        self.by_pixels: dict[str, str] = {}
        self.owner: list[int] = []            # the image each view row belongs to
        self.hashes: list[np.ndarray] = []
        self.thumbs: list[np.ndarray] = []
        self._stacked: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def add(self, name: str, key: ImageKey) -> None:
        self.by_pixels.setdefault(key.pixels, name)
        self.owner += [len(self.names)] * len(key.hashes)
        self.names.append(name)
        self.hashes += list(key.hashes)
        self.thumbs += list(key.thumbs)
        self._stacked = None

    def find(self, key: ImageKey) -> tuple[str, str, float, bool] | None:
        """(name of the kept image, 'exact' or 'near', standardized distance, mirrored) for the closest kept image
        this one duplicates, or None. Each view is compared as it is and mirrored left-right (training flips
        paintings, so a mirrored copy adds nothing): mirrored is true when the closest match was the mirror."""
        if key.pixels in self.by_pixels:
            return self.by_pixels[key.pixels], "exact", 0.0, False
        if not self.names:
            return None
        if self._stacked is None:
            self._stacked = (np.stack(self.hashes), np.array(self.owner), np.stack(self.thumbs))
        hashes, owner, thumbs = self._stacked
        mirrored = key.thumbs[:, :, ::-1]  # the mirrored image's thumbnail (256 px: exactly; else within rounding)
        new_thumbs = np.concatenate([key.thumbs, mirrored])  # views as they are, then mirrored
        new_hashes = np.concatenate([key.hashes, np.stack([_average_hash(t) for t in mirrored])])
        bits = _bit_distance(new_hashes, hashes)  # (new views, kept views)
        view, row = np.nonzero(bits <= HASH_BITS)
        if not len(row):
            return None
        z_new, mean_new = _standardized(new_thumbs[view])
        z_kept, mean_kept = _standardized(thumbs[row])
        distance = np.abs(z_new - z_kept).mean(axis=(1, 2, 3))
        same = (distance <= NEAR_DISTANCE) & (np.abs(mean_new - mean_kept).mean(axis=1) <= MEAN_LEVELS)
        if not same.any():
            return None
        best = np.flatnonzero(same)[np.argmin(distance[same])]
        return (self.names[owner[row[best]]], "near", round(float(distance[best]), 3),
                bool(view[best] >= len(key.thumbs)))
