"""One image checked and converted as the competition's are (256x256 RGB JPEG), the package's one JPEG encoder, the
TFRecord example of the competition's features, and the error data problems raise. The fetch stage
(:mod:`monet.data.fetch`) and the extra paintings (:mod:`monet.data.extra`) build on it."""
from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from monet.core import files, progress

__all__ = ["IMAGE_SIZE", "DataError", "jpeg_bytes", "tf_example", "ImageCheck", "to_rgb", "checked_in_threads",
           "check_image"]

IMAGE_SIZE = 256


class DataError(RuntimeError):
    """The data cannot be used as it is; the message says what was found and what was expected."""


def jpeg_bytes(array: np.ndarray, quality: int = 90) -> bytes:
    """A uint8 HxWx3 array encoded as JPEG (the one encoder of the package: data, paintings and submissions)."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def tf_example(name: str, jpeg: bytes, target: str) -> bytes:
    import tensorflow as tf

    def feature(value: bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    return tf.train.Example(features=tf.train.Features(feature={
        "image_name": feature(name.encode()), "image": feature(jpeg), "target": feature(target.encode()),
    })).SerializeToString()


@dataclass
class ImageCheck:
    """What :func:`check_image` found for one file."""
    name: str
    source: str
    path: str | None = None      # the file later stages read (None: unusable)
    problem: str | None = None   # why it was converted or skipped


def to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL image as RGB: grayscale and palette converted, transparency flattened onto white (as a viewer
    shows it)."""
    if im.mode in ("RGBA", "LA", "PA", "P") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return im.convert("RGB")


def checked_in_threads(found: list[Path], check, converted_dir: Path, task: str) -> list:
    """``check(path)`` of every file, in threads, in ``found``'s order, with a progress line."""
    converted_dir.mkdir(parents=True, exist_ok=True)
    live = progress.Progress(task, len(found), "images")
    out = []
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        for result in pool.map(check, found):
            out.append(result)
            live.update(len(out))
    return out


def check_image(path: Path, converted_dir: Path) -> ImageCheck:
    """One file checked (decoded fully): a 256x256 RGB JPEG as it is; another readable image converted (RGB, centre
    square crop, 256x256, JPEG at quality 95) into ``converted_dir``; an unreadable one with ``path=None``."""
    try:
        with Image.open(path) as im:
            im.load()
            fmt, mode, size = im.format, im.mode, im.size
            if fmt == "JPEG" and mode == "RGB" and size == (IMAGE_SIZE, IMAGE_SIZE):
                return ImageCheck(path.stem, str(path), str(path))
            rgb = to_rgb(im)
    except Exception as exc:  # noqa: BLE001 - any decoder failure means unusable
        return ImageCheck(path.stem, str(path), None, f"unreadable: {type(exc).__name__}: {exc}")
    w, h = rgb.size
    side = min(w, h)
    if (w, h) != (IMAGE_SIZE, IMAGE_SIZE):  # centre square crop keeps the aspect, then resize
        left, top = (w - side) // 2, (h - side) // 2
        rgb = rgb.crop((left, top, left + side, top + side)).resize((IMAGE_SIZE, IMAGE_SIZE), Image.LANCZOS)
    out = converted_dir / f"{path.name}.jpg"  # the whole file name: a.png and a.jpg never overwrite each other
    files.write_bytes(out, jpeg_bytes(np.asarray(rgb), 95))
    return ImageCheck(path.stem, str(path), str(out), f"converted: was {fmt} {mode} {w}x{h}")
