"""Extra paintings (``fetch.extra_monet``): folders, or Kaggle data sets as ``kaggle:OWNER/SLUG[/SUBFOLDER]``, of
further Monet paintings added to the training paintings. Each is checked and converted as the competition's
paintings are (:mod:`monet.data.images`), into ``<run>/data/converted/extra_monet/N/``, and kept unless it
duplicates a painting already kept (the competition's first, then earlier extras; the test is
:mod:`monet.data.duplicates`). The fetch stage (:mod:`monet.data.fetch`) adds the kept ones to the manifest.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from monet.core import environment, files
from monet.data import duplicates
from monet.data.images import DataError, ImageCheck, check_image, checked_in_threads, tf_example, to_rgb

__all__ = ["EXTRA_KEY", "IMAGE_SUFFIXES", "kaggle_dataset", "resolve_extra_folder", "check_extra_folders",
           "add_extra_monet", "write_extra_tfrecord", "extra_monet_report"]

EXTRA_KEY = "fetch.extra_monet"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
_KAGGLE_ENTRY = re.compile(r"kaggle:([A-Za-z0-9][A-Za-z0-9_-]*)/([A-Za-z0-9][A-Za-z0-9_.-]*)((?:/[^/]+)*)/?")


def kaggle_dataset(entry: str) -> tuple[str, str] | None:
    """For an ``extra_monet`` entry ``kaggle:OWNER/SLUG[/SUBFOLDER]``: ('OWNER/SLUG', 'SUBFOLDER' or ''); for a
    path: None. Raises DataError for a ``kaggle:`` entry of another form."""
    if not entry.startswith("kaggle:"):
        return None
    match = _KAGGLE_ENTRY.fullmatch(entry)
    if not match or ".." in match.group(3).split("/"):
        raise DataError(f"{EXTRA_KEY} entry {entry!r}: expected kaggle:OWNER/SLUG or kaggle:OWNER/SLUG/SUBFOLDER "
                        "(a Kaggle data set, as in its address kaggle.com/datasets/OWNER/SLUG)")
    return f"{match.group(1)}/{match.group(2)}", match.group(3).strip("/")


def resolve_extra_folder(entry: str, repo_root: str | Path = ".") -> Path:
    """One ``fetch.extra_monet`` entry as a folder. ``kaggle:OWNER/SLUG[/SUBFOLDER]`` is the data set as a Kaggle
    kernel mounts it: the first of ``/kaggle/input/SLUG`` and ``/kaggle/input/datasets/OWNER/SLUG`` that exists
    (plus the subfolder). Anything else is a path (``~`` expanded, a relative one from the repository root, as
    ``data_dir``). Raises DataError when a ``kaggle:`` data set is not mounted; the folder itself is checked by
    :func:`check_extra_folders`."""
    dataset = kaggle_dataset(entry)
    if dataset is None:
        path = Path(entry).expanduser()
        return (path if path.is_absolute() else Path(repo_root) / path).resolve()
    (owner_slug, sub), inputs = dataset, environment.kaggle_root() / "input"
    owner, slug = owner_slug.split("/")
    mounts = [inputs / slug, inputs / "datasets" / owner / slug]
    mount = next((m for m in mounts if m.is_dir()), None)
    if mount is None:
        raise DataError(
            f"{EXTRA_KEY} entry {entry!r}: the Kaggle data set {owner_slug} is not mounted here (no "
            f"{' or '.join(map(str, mounts))}). In a Kaggle kernel, attach it (python -m monet bundle attaches "
            f"every kaggle: entry); elsewhere download it (kaggle datasets download {owner_slug} --unzip -p FOLDER) "
            "and give FOLDER instead.")
    return mount / sub if sub else mount


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_SUFFIXES)


def check_extra_folders(entries, repo_root: str | Path = ".") -> list[Path]:
    """The folders of ``fetch.extra_monet``, each checked to exist and to hold image files (by suffix: .jpg,
    .jpeg, .png, .webp, .bmp, .tif, .tiff, .gif) at its top level; raises DataError naming the key, the entry and
    what the folder holds. Cheap (no image is decoded): the pipeline's preflight calls it."""
    folders = []
    for entry in entries:
        folder = resolve_extra_folder(entry, repo_root)
        if not folder.is_dir():
            raise DataError(f"{EXTRA_KEY} entry {entry!r}: {folder} is not a folder (expected a folder of "
                            "Monet paintings; relative paths are from the repository root)")
        if not _image_files(folder):
            found = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
            subfolders = [f for f in found if f.endswith("/")]
            raise DataError(f"{EXTRA_KEY} entry {entry!r}: {folder} holds no images (expected "
                            f"{', '.join('*' + s for s in IMAGE_SUFFIXES)} at its top level); found: "
                            f"{', '.join(found[:20]) or 'nothing'}"
                            + (f". Name a subfolder instead, e.g. {entry.rstrip('/')}/{subfolders[0]}"
                               if subfolders else ""))
        folders.append(folder)
    return folders


def _pixels(path: str | Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _check_extra(path: Path, converted_dir: Path) -> tuple[ImageCheck, duplicates.ImageKey | None]:
    """One extra painting checked and converted as a competition painting would be, and its duplicate key: the
    256x256 pixels, plus the whole source squashed when it was not square (decoded at reduced size)."""
    check = check_image(path, converted_dir)
    if check.path is None:
        return check, None
    try:
        whole = None
        with Image.open(path) as src:
            if src.size[0] != src.size[1]:
                src.draft("RGB", (4 * duplicates.THUMB, 4 * duplicates.THUMB))  # JPEG: a cheap, smaller decode
                whole = to_rgb(src)
        return check, duplicates.image_key(_pixels(check.path), whole)
    except Exception as exc:  # noqa: BLE001 - it decoded a moment ago; anything now means unusable
        return ImageCheck(check.name, check.source, None, f"unreadable: {type(exc).__name__}: {exc}"), None


def _unique_name(name: str, taken: set[str]) -> str:
    n, out = 1, name
    while out in taken:
        n += 1
        out = f"{name}_{n}"
    taken.add(out)
    return out


def _scan_extra_folder(entry: str, folder: Path, converted_dir: Path, index: duplicates.Index,
                       taken: set[str]) -> tuple[list[dict], dict]:
    """One extra folder: its rows to add to the manifest and its part of the summary. A duplicate's conversion
    is removed (only kept paintings stay in the run folder)."""
    found = _image_files(folder)
    results = checked_in_threads(found, lambda p: _check_extra(p, converted_dir), converted_dir,
                                  f"checking extra paintings {folder.name}")
    rows, dups, unreadable, converted = [], [], [], 0
    for check, key in results:  # in name order: which of two duplicates is kept does not depend on threads
        match = index.find(key) if key is not None else None
        if key is None:
            unreadable.append({"file": check.source, "why": check.problem})
        elif match:
            dups.append({"file": check.source, "of": match[0], "how": match[1], "distance": match[2],
                         "mirrored": match[3]})
        else:
            name = _unique_name(check.name, taken)
            index.add(name, key)
            converted += check.path != check.source
            rows.append({"domain": "monet", "name": name, "path": check.path, "source": check.source,
                         "origin": "extra"})
        if check.path and check.path != check.source and (key is None or match):
            Path(check.path).unlink(missing_ok=True)
    if not any(converted_dir.iterdir()):
        converted_dir.rmdir()
    return rows, {"entry": entry, "folder": str(folder), "found": len(found), "added": len(rows),
                  "converted": converted, "duplicates_dropped": len(dups), "unreadable_skipped": len(unreadable),
                  "duplicates": dups, "unreadable": unreadable}


def add_extra_monet(entries, monet_rows: list[dict], out_dir: str | Path,
                    repo_root: str | Path = ".") -> tuple[list[dict], dict]:
    """The extra paintings of ``fetch.extra_monet`` that are neither duplicates of ``monet_rows`` (the
    competition's, all kept) nor of each other: their manifest rows (``origin: extra``, names made unique among
    all paintings) and the summary's ``extra_monet`` part (per folder: found, added, duplicates dropped with the
    painting each duplicates, unreadable skipped). Conversions go to ``<out_dir>/converted/extra_monet/N/``."""
    folders = check_extra_folders(entries, repo_root)
    index, taken = duplicates.Index(), {r["name"] for r in monet_rows}
    for r in monet_rows:
        index.add(r["name"], duplicates.image_key(_pixels(r["path"])))
    rows, parts = [], []
    for n, (entry, folder) in enumerate(zip(entries, folders), 1):
        added, part = _scan_extra_folder(entry, folder, Path(out_dir) / "converted" / "extra_monet" / str(n),
                                         index, taken)
        rows += added
        parts.append(part)
    extra_dir = Path(out_dir) / "converted" / "extra_monet"
    if extra_dir.is_dir() and not any(extra_dir.iterdir()):
        extra_dir.rmdir()
    summary = {k: sum(p[k] for p in parts) for k in ("found", "added", "converted", "duplicates_dropped",
                                                     "unreadable_skipped")}
    return rows, {"folders": len(parts), **summary, "near_duplicate": {
        "hash_bits": duplicates.HASH_BITS, "distance": duplicates.NEAR_DISTANCE,
        "mean_levels": duplicates.MEAN_LEVELS}, "by_folder": parts}


def write_extra_tfrecord(rows: list[dict], path: Path) -> None:
    """The added extra paintings as one TFRecord file with the competition's features (training reads TFRecords
    with ``cyclegan.data_format: tfrec``, always on a TPU)."""
    import tensorflow as tf

    with files.atomic_path(path, ".tfrec") as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
        for r in rows:
            writer.write(tf_example(r["name"], Path(r["path"]).read_bytes(), "monet"))


def extra_monet_report(summary: dict, shown: int = 20) -> list[str]:
    """The fetch summary's extra paintings as lines to print, at most ``shown`` duplicates and unreadable files
    of each folder (none without ``fetch.extra_monet``)."""
    extra = summary.get("extra_monet")
    if not extra:
        return []
    lines = [f"extra paintings: {extra['folders']} folder(s), {extra['found']:,} found, {extra['added']:,} added "
             f"({extra['converted']:,} converted), {extra['duplicates_dropped']:,} duplicates dropped, "
             f"{extra['unreadable_skipped']:,} unreadable skipped"]
    for part in extra["by_folder"]:
        where = part["entry"] + (f" ({part['folder']})" if part["folder"] != part["entry"] else "")
        lines.append(f"  {where}: {part['found']:,} found, {part['added']:,} added, "
                     f"{part['duplicates_dropped']:,} duplicates, {part['unreadable_skipped']:,} unreadable")
        lines += [f"    duplicate ({d['how']}{', mirrored' if d.get('mirrored') else ''}, distance {d['distance']}): "
                  f"{d['file']} = {d['of']}"
                  for d in part["duplicates"][:shown]]
        lines += [f"    skipped (unreadable): {u['file']}: {u['why']}" for u in part["unreadable"][:shown]]
        more = max(0, len(part["duplicates"]) - shown) + max(0, len(part["unreadable"]) - shown)
        lines += [f"    ... and {more:,} more (all in data/summary.json)"] if more else []
    return lines
