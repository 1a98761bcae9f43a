"""Atomic file writes: a reader (or a rerun after a kill) sees the old file or the new one, never half of one.

Every file that a rerun reads back (summaries, configs, traces, histories, checkpoints, zips) is written through
these helpers: the content goes to ``<name>.partial`` beside the target, is flushed to disk, and is renamed over
the target only when complete. A failure (a full disk, an exception in the writer) removes the partial file and
leaves the target as it was.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

__all__ = ["atomic_path", "write_text", "write_bytes", "write_json", "write_csv", "move_aside", "PARTIAL"]

PARTIAL = ".partial"


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on a clean exit it replaces ``target``, on an error it is removed.

    ``suffix`` is appended after ``.partial`` for writers that insist on an extension (``np.savez`` adds
    ``.npz``, Keras wants ``.keras`` or ``.weights.h5``). Works for files and for folders.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + PARTIAL + suffix)
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir() and target.is_dir():  # os.replace cannot replace a non-empty folder
            _remove(target)
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def write_bytes(target: str | Path, blob: bytes) -> Path:
    """Write ``blob`` to ``target`` atomically (flushed to disk before the rename)."""
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(target)


def write_text(target: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically."""
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | Path, obj: Any, indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON to ``target`` atomically (values JSON cannot hold are written as strings)."""
    return write_text(target, json.dumps(obj, indent=indent, default=str))


def write_csv(target: str | Path, rows: list[dict], fieldnames: list[str]) -> Path:
    """Write ``rows`` as a CSV with ``fieldnames`` (a missing value left empty) to ``target`` atomically."""
    with atomic_path(target) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return Path(target)


def move_aside(folder: str | Path) -> Path:
    """Rename ``folder`` to ``<name>.<YYYYmmdd-HHMMSS>`` beside it (work made with other params is kept, never
    deleted); returns the new path."""
    folder = Path(folder)
    kept = folder.with_name(f"{folder.name}.{time.strftime('%Y%m%d-%H%M%S')}")
    folder.rename(kept)
    return kept
