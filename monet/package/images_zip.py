"""Kaggle's ``images.zip``: written as a stream of JPEGs, checked against the rules, and joined from shards.

Kaggle's rules for this competition: one zip of 7,000 to 10,000 JPEG images, each 256x256 RGB. The packaging stage
(:mod:`monet.package.stage`) translates photos into it; ``python -m monet validate`` and ``merge`` use it directly.
"""
from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from monet.core import files

__all__ = ["SubmissionError", "MIN_IMAGES", "MAX_IMAGES", "check_count", "entry_names", "encode_batches",
           "write_jpegs_zip", "write_images_zip", "validate_zip", "merge_shards", "FLAT_STD", "FLAT_SHARE",
           "is_flat"]

MIN_IMAGES, MAX_IMAGES = 7_000, 10_000
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip timestamps when deterministic


class SubmissionError(RuntimeError):
    """The submission would not be accepted; the message says what was found."""


def check_count(n: int, what: str = "photos") -> None:
    """Raise SubmissionError unless ``n`` images fit Kaggle's 7,000-10,000 (``what`` names the sources)."""
    if not MIN_IMAGES <= n <= MAX_IMAGES:
        raise SubmissionError(f"{n:,} {what} give {n:,} images; Kaggle needs {MIN_IMAGES:,}-{MAX_IMAGES:,}.")


def entry_names(names: list[str]) -> list[str]:
    """Unique ``<name>.jpg`` zip entries, in order; repeats get ``_2``, ``_3``..."""
    out, seen = [], set()
    for name in names:
        stem = Path(name).stem or "image"
        candidate, k = f"{stem}.jpg", 1
        while candidate in seen:
            k += 1
            candidate = f"{stem}_{k}.jpg"
        seen.add(candidate)
        out.append(candidate)
    return out


def _encode(batch: np.ndarray, quality: int, post=None) -> list[bytes]:
    from monet.data.images import jpeg_bytes

    return [jpeg_bytes(post(image) if post else image, quality) for image in batch]


def write_jpegs_zip(jpegs, names: list[str], zip_path: str | Path, deterministic: bool = False,
                    comment: bytes = b"") -> dict:
    """Stream encoded JPEGs (an iterable of bytes, consumed lazily) into ``zip_path`` as ``entry_names(names)``.

    The zip is written as ``<zip>.partial`` and renamed only when complete; any failure (a full disk included)
    removes the partial file and raises SubmissionError. Entries are stored (JPEGs do not
    compress), with fixed timestamps when ``deterministic``. Returns {count, bytes, seconds}.
    """
    zip_path = Path(zip_path)
    entries = entry_names(names)
    stamp = FIXED_TIME if deterministic else time.localtime()[:6]
    t0, count = time.time(), 0
    try:
        with files.atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
            zf.comment = comment
            for jpeg in jpegs:
                if count >= len(entries):
                    raise SubmissionError(f"more images than names ({len(entries)})")
                info = zipfile.ZipInfo(entries[count], date_time=stamp)
                info.external_attr = 0o644 << 16
                zf.writestr(info, jpeg)
                count += 1
            if count != len(entries):
                raise SubmissionError(f"{count:,} images were generated for {len(entries):,} names")
    except OSError as exc:  # a full disk, a vanished folder: no half zip is left behind
        raise SubmissionError(f"could not write {zip_path} after {count:,} images ({type(exc).__name__}: {exc}); "
                              "nothing was kept: free some space and run the stage again") from exc
    return {"count": count, "bytes": zip_path.stat().st_size, "seconds": round(time.time() - t0, 3)}


def encode_batches(batches, quality: int = 95, workers: int = 2, depth: int = 4, post=None):
    """JPEG bytes of every image of ``batches`` (uint8 NxHxWx3), in order, each through ``post`` first when given
    (an image-to-image callable: :class:`monet.package.postprocess.Postprocess`); encoding runs in threads while the
    caller (and the producer of ``batches``) go on, with at most ``depth`` batches waiting."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append(pool.submit(_encode, np.asarray(batch, dtype=np.uint8), quality, post))
            while len(pending) > depth:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def write_images_zip(batches, names: list[str], zip_path: str | Path, quality: int = 95,
                     deterministic: bool = False, workers: int = 2, depth: int = 4, comment: bytes = b"",
                     post=None) -> dict:
    """Encode uint8 NxHxWx3 batches (an iterable, consumed lazily) as JPEGs into ``zip_path``, each image
    through ``post`` first when given.

    Encoding runs in ``workers`` threads while the caller produces the next batch; memory does not grow with
    the number of images. See :func:`write_jpegs_zip` for the zip itself.
    """
    jpegs = encode_batches(batches, quality, workers, depth, post)
    return write_jpegs_zip(jpegs, names, zip_path, deterministic, comment)


FLAT_STD = 1.0  # pixel standard deviation (0-255 levels) below which an image is one flat colour
# (package.grain's noise hides a flat image from the zip's check; the translator checks the generator's own output
# before any filter: translator.check_output)
FLAT_SHARE = 0.5  # a zip more than this share of whose images are flat is refused: a diverged generator


def is_flat(image) -> bool:
    """Whether an HxWx3 image (0-255 levels) is one flat colour: every channel's pixel standard deviation (every
    4th pixel each way) below FLAT_STD."""
    return float(np.asarray(image)[::4, ::4].reshape(-1, 3).std(axis=0).max()) < FLAT_STD


def _check_jpeg(blob: bytes) -> tuple[str | None, bool]:
    """(what is wrong with the image or None, whether it is one flat colour)."""
    try:
        with Image.open(io.BytesIO(blob)) as im:
            im.load()
            if im.format != "JPEG":
                return f"{im.format} image, not JPEG", False
            if im.mode != "RGB" or im.size != (256, 256):
                return f"{im.mode} {im.size[0]}x{im.size[1]}, expected RGB 256x256", False
            return None, is_flat(im)
    except Exception as exc:  # noqa: BLE001
        return f"does not decode ({type(exc).__name__}: {exc})", False


def validate_zip(zip_path: str | Path, decode: bool = True, rules: bool = True) -> dict:
    """Check ``zip_path`` against Kaggle's rules; returns {count, bytes} or raises SubmissionError that lists
    what was wrong (count, folders, non-JPEG names, duplicates, images that are not 256x256x3 JPEGs, and with
    ``decode`` a zip of mostly flat images: check 'near-constant').
    ``rules=False`` skips the image count (a shard, or timing the check on a sample)."""
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise SubmissionError(f"{zip_path} does not exist")
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise SubmissionError(f"{zip_path}: not a zip file ({exc})") from None
    problems = []
    names = [i.filename for i in infos]
    images = [i for i in infos if not i.is_dir()]
    if len(images) != len(infos):
        problems.append(f"{len(infos) - len(images)} folder entries (Kaggle wants images only)")
    not_jpg = [n for n in names if not n.lower().endswith((".jpg", ".jpeg")) and not n.endswith("/")]
    if not_jpg:
        problems.append(f"{len(not_jpg)} entries without a .jpg name, e.g. {not_jpg[:3]}")
    if len(set(names)) != len(names):
        problems.append(f"{len(names) - len(set(names))} duplicate names")
    if rules and not MIN_IMAGES <= len(images) <= MAX_IMAGES:
        problems.append(f"{len(images):,} images; Kaggle needs {MIN_IMAGES:,}-{MAX_IMAGES:,}")
    if decode and not problems:
        problems += _decoded_problems(zip_path, images)
    if problems:
        raise SubmissionError(f"{zip_path} would be rejected: " + "; ".join(problems))
    return {"count": len(images), "bytes": zip_path.stat().st_size}


def _decoded_problems(zip_path: Path, images: list) -> list[str]:
    """Every entry checked (threads, one chunk at a time): those that are not 256x256 RGB JPEGs, and a zip whose
    images are mostly one flat colour (check 'near-constant': what a generator with NaN weights leaves).
    Entries with the same bytes (``fit_count: repeat``) are decoded once and counted each time."""
    bad: list[str] = []
    flat = 0
    checked: dict[bytes, tuple[str | None, bool]] = {}  # a digest of an entry's bytes -> what _check_jpeg said
    with zipfile.ZipFile(zip_path) as zf, ThreadPoolExecutor(max_workers=4) as pool:
        for start in range(0, len(images), 256):  # bounded memory: one chunk of JPEGs at a time
            chunk = [(i.filename, zf.read(i)) for i in images[start:start + 256]]
            keys = [hashlib.blake2b(blob, digest_size=16).digest() for _, blob in chunk]
            new = {key: blob for key, (_, blob) in zip(keys, chunk) if key not in checked}
            checked.update(zip(new, pool.map(_check_jpeg, new.values())))
            for (name, _), key in zip(chunk, keys):
                problem, is_flat = checked[key]
                bad += [f"{name}: {problem}"] if problem else []
                flat += is_flat
    problems = [f"{len(bad)} images are not 256x256 RGB JPEGs, e.g. {bad[:3]}"] if bad else []
    if images and flat > FLAT_SHARE * len(images):
        problems.append(f"check 'near-constant': {flat:,} of {len(images):,} images are one flat colour (pixel "
                        f"standard deviation < {FLAT_STD} level): a diverged generator, not paintings")
    return problems


def _checked_shards(paths: list[str | Path]) -> list[tuple[dict, Path]]:
    """(shard meta, path) in shard order, or SubmissionError naming a shard that is not one, is missing, given twice,
    from another split, or overlapping."""
    shards = []
    for path in map(Path, paths):
        try:
            with zipfile.ZipFile(path) as zf:
                meta = json.loads(zf.comment or b"null")
        except (zipfile.BadZipFile, json.JSONDecodeError, FileNotFoundError) as exc:
            raise SubmissionError(f"{path}: not a shard archive ({exc})") from None
        if not isinstance(meta, dict) or not {"shard", "of", "total", "start", "stop"} <= set(meta):
            raise SubmissionError(f"{path}: not a shard archive (written with package.shard: i/n)")
        shards.append((meta, path))
    if not shards:
        raise SubmissionError("no shard archives given")
    if len({(m["of"], m["total"]) for m, _ in shards}) > 1:
        raise SubmissionError("the shards come from different splits: " + ", ".join(
            f"{p.name} is {m['shard']}/{m['of']} of {m['total']}" for m, p in shards))
    n, total = shards[0][0]["of"], shards[0][0]["total"]
    seen: dict[int, Path] = {}
    for meta, path in shards:
        if meta["shard"] in seen:
            raise SubmissionError(f"shard {meta['shard']}/{n} given twice: {seen[meta['shard']]} and {path}")
        seen[meta["shard"]] = path
    missing = sorted(set(range(1, n + 1)) - set(seen))
    if missing:
        raise SubmissionError(f"missing shard(s) {', '.join(f'{i}/{n}' for i in missing)}: write them with "
                              f"--set package.shard=I/{n} and merge again")
    shards.sort(key=lambda item: item[0]["shard"])
    position = 0
    for meta, path in shards:
        if meta["start"] != position:
            raise SubmissionError(f"{path}: covers photos {meta['start']}-{meta['stop']}, expected to start at "
                                  f"{position}: overlapping or missing photos")
        position = meta["stop"]
    if position != total:
        raise SubmissionError(f"the shards cover {position:,} of {total:,} photos")
    return shards


def merge_shards(paths: list[str | Path], zip_path: str | Path, deterministic: bool = False,
                 validate: bool = True) -> dict:
    """Join the partial archives of ``package.shard: i/n`` runs into one zip, in shard order, and (by default)
    check it against Kaggle's rules. Missing, repeated or overlapping shards are refused, naming them."""
    shards = _checked_shards(paths)
    names, sources = [], []
    for _, path in shards:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                names.append(name[:-4] if name.endswith(".jpg") else name)
                sources.append((path, name))
    if len(set(names)) != len(names):
        raise SubmissionError("the shards overlap: some images appear in more than one")

    def blobs():
        handles: dict[Path, zipfile.ZipFile] = {}
        try:
            for path, name in sources:
                if path not in handles:  # open each shard once (setdefault would open it for every image)
                    handles[path] = zipfile.ZipFile(path)
                yield handles[path].read(name)
        finally:
            for handle in handles.values():
                handle.close()

    summary = write_jpegs_zip(blobs(), names, zip_path, deterministic)
    if validate:
        summary.update(validate_zip(zip_path))
    return summary
