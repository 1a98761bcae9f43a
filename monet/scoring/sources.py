"""Where images to score come from: an images.zip or a folder of images (or a list of paths), read by name."""
from __future__ import annotations

import zipfile
from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "image_source", "read_path"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def read_path(name: str) -> bytes:
    """The bytes of the image file ``name`` (a path)."""
    return Path(name).read_bytes()


def image_source(path: str | Path, limit: int | None = None) -> tuple[list[str], callable]:
    """(names, read(name) -> bytes) for an images.zip or a folder of JPEG/PNG images, in name order."""
    path = Path(path)
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = sorted(n for n in zf.namelist() if n.lower().endswith(IMAGE_SUFFIXES))[:limit]

        def read(name: str, _zip=[None]) -> bytes:  # noqa: B006 - one open handle per source
            if _zip[0] is None:
                _zip[0] = zipfile.ZipFile(path)
            return _zip[0].read(name)

        return names, read
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
        return [str(p) for p in files], read_path
    raise FileNotFoundError(f"{path}: expected an images.zip or a folder of .jpg/.png images")
