"""Streaming generated images into ``images.zip`` and checking it against Kaggle's rules.

Kaggle's rules for this competition: one zip of 7,000 to 10,000 JPEG images, each 256x256 RGB.
"""
from __future__ import annotations

import functools
import io
import json
import time
import zipfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from . import files

__all__ = ["SubmissionError", "MIN_IMAGES", "MAX_IMAGES", "check_count", "entry_names", "write_jpegs_zip",
           "write_images_zip",
           "validate_zip", "translate_to_zip"]

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


def _encode(batch: np.ndarray, quality: int) -> list[bytes]:
    from .data import jpeg_bytes

    return [jpeg_bytes(image, quality) for image in batch]


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


def _encoded(batches, quality: int, workers: int, depth: int):
    """JPEG bytes of every image of ``batches``, in order; encoding runs in threads while the caller (and the
    producer of ``batches``) go on, with at most ``depth`` batches waiting."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append(pool.submit(_encode, np.asarray(batch, dtype=np.uint8), quality))
            while len(pending) > depth:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def write_images_zip(batches, names: list[str], zip_path: str | Path, quality: int = 95,
                     deterministic: bool = False, workers: int = 2, depth: int = 4, comment: bytes = b"") -> dict:
    """Encode uint8 NxHxWx3 batches (an iterable, consumed lazily) as JPEGs into ``zip_path``.

    Encoding runs in ``workers`` threads while the caller produces the next batch; memory does not grow with
    the number of images. See :func:`write_jpegs_zip` for the zip itself.
    """
    return write_jpegs_zip(_encoded(batches, quality, workers, depth), names, zip_path, deterministic, comment)


def _check_jpeg(name: str, blob: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(blob)) as im:
            im.load()
            if im.format != "JPEG":
                return f"{name}: {im.format} image, not JPEG"
            if im.mode != "RGB" or im.size != (256, 256):
                return f"{name}: {im.mode} {im.size[0]}x{im.size[1]}, expected RGB 256x256"
    except Exception as exc:  # noqa: BLE001
        return f"{name}: does not decode ({type(exc).__name__}: {exc})"
    return None


def validate_zip(zip_path: str | Path, decode: bool = True, rules: bool = True) -> dict:
    """Check ``zip_path`` against Kaggle's rules; returns {count, bytes} or raises SubmissionError that lists
    what was wrong (count, folders, non-JPEG names, duplicates, images that are not 256x256x3 JPEGs).
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
        bad: list[str] = []
        with zipfile.ZipFile(zip_path) as zf, ThreadPoolExecutor(max_workers=4) as pool:
            for start in range(0, len(images), 256):  # bounded memory: one chunk of JPEGs at a time
                chunk = [(i.filename, zf.read(i)) for i in images[start:start + 256]]
                bad += [p for p in pool.map(lambda item: _check_jpeg(*item), chunk) if p]
        if bad:
            problems.append(f"{len(bad)} images are not 256x256 RGB JPEGs, e.g. {bad[:3]}")
    if problems:
        raise SubmissionError(f"{zip_path} would be rejected: " + "; ".join(problems))
    return {"count": len(images), "bytes": zip_path.stat().st_size}


@functools.lru_cache(maxsize=4)
def _translator(generator):
    """The generator's compiled batch translation to uint8, traced once per generator and process (not once per
    call: packaging several checkpoints, or timing a sample first, pays the trace once)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, 256, 256, 3], tf.float32)])
    def translate(x):
        y = generator(x, training=False)
        return tf.cast(tf.clip_by_value(tf.round((tf.cast(y, tf.float32) + 1.0) * 127.5), 0.0, 255.0), tf.uint8)

    return translate


def translate_to_zip(generator, photo_paths: list[str], names: list[str], zip_path: str | Path,
                     batch_size: int = 32, quality: int = 95, deterministic: bool = False,
                     progress: bool = True, comment: bytes = b"") -> dict:
    """Translate every photo with ``generator`` (a Keras model, [-1, 1] in and out) straight into a zip.

    Batched inference in one compiled function (traced once per generator); decoding (tf.data) and JPEG
    encoding (threads) overlap with the model. Returns the :func:`write_images_zip` summary plus images per
    second.
    """
    import sys

    from tqdm import tqdm

    from . import data

    translate = _translator(generator)

    def batches():
        ds = data.photo_batches(photo_paths, batch_size)
        bar = tqdm(total=len(photo_paths), desc="translating", unit="img", file=sys.stdout, mininterval=10,
                   ascii=True, disable=not progress)
        for x in ds:
            out = translate(x).numpy()
            bar.update(len(out))
            yield out
        bar.close()

    summary = write_images_zip(batches(), names, zip_path, quality=quality, deterministic=deterministic,
                               comment=comment)
    summary["images_per_second"] = round(summary["count"] / max(summary["seconds"], 1e-9), 2)
    return summary


def fit_count(photos: list[dict], how: str) -> tuple[list[dict], str | None]:
    """The photos to package under ``package.fit_count`` and a note, or SubmissionError before anything is
    translated: 'refuse' (a count outside 7,000-10,000 is an error), 'cap' (the first 10,000), 'repeat' (cycle
    through the photos up to 7,000; repeats get names ``<name>_2``...), 'keep' (all of them; a zip outside the
    rules is kept as ``images.rejected.zip``, for local looks and scores)."""
    n = len(photos)
    if MIN_IMAGES <= n <= MAX_IMAGES or how == "keep":
        return photos, None
    if how == "cap" and n > MAX_IMAGES:
        return photos[:MAX_IMAGES], f"package.fit_count cap: the first {MAX_IMAGES:,} of {n:,} photos"
    if how == "repeat" and 0 < n < MIN_IMAGES:
        return [photos[i % n] for i in range(MIN_IMAGES)], (f"package.fit_count repeat: {n:,} photos repeated "
                                                            f"to {MIN_IMAGES:,} images")
    try:
        check_count(n)
    except SubmissionError as exc:
        raise SubmissionError(f"{exc} Nothing was translated. Set package.fit_count: "
                              + ("cap (the first 10,000)" if n > MAX_IMAGES else "repeat (cycle the photos)")
                              + ", or keep (a zip for local use that Kaggle would reject).") from None
    return photos, None


def package(run_dir: str | Path, cfg: dict, deterministic: bool = False) -> dict:
    """The package stage: translate the photos of the run's manifest with the trained generator (or zip the NST
    stage's images) into ``<run>/images.zip``, validate it, and write ``submission/summary.json`` and
    ``submission/grid.png``.

    A photo count outside Kaggle's rules is refused before anything is translated (see :func:`fit_count`). An
    earlier ``images.zip`` is moved to ``submission/images.previous.zip`` first, so a failed repackaging never
    leaves a stale zip to submit. A zip that Kaggle would reject is kept as ``submission/images.rejected.zip``
    (never as ``images.zip``) and SubmissionError says why.
    """
    import keras

    from . import data, networks  # noqa: F401 - networks registers the custom layers for loading

    if deterministic:  # forward passes only: op determinism, oneDNN may stay on (see environment.GRADIENT_STAGES)
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    run_dir = Path(run_dir)
    out = run_dir / "submission"
    out.mkdir(parents=True, exist_ok=True)
    final = run_dir / "images.zip"
    all_photos = data.read_manifest(run_dir)["photo"]
    shard = None
    summary: dict = {"photos": len(all_photos), "count": 0, "valid": False}
    if cfg["source"] == "nst":
        folder = run_dir / "nst" / "images"
        photos = [r for r in all_photos if (folder / f"{r['name']}.jpg").is_file()]
        missing = len(all_photos) - len(photos)
        what = "NST images" + (f" ({missing:,} photos have no NST image: nst.limit or an unfinished "
                               "nst_generate stage)" if missing else "")
        summary.update(source="nst", photos_without_nst_image=missing)
        nst_summary = run_dir / "nst" / "summary.json"
        nst_note = json.loads(nst_summary.read_text()).get("note") if nst_summary.is_file() else None
        if nst_note:
            summary["note"] = nst_note
    else:
        photos, what = all_photos, "photos"
        summary.update(source="cyclegan")
    if final.is_file() and not cfg.get("shard"):
        final.replace(out / "images.previous.zip")
        summary["previous_zip"] = str(out / "images.previous.zip")
    try:
        if cfg.get("shard"):
            i, n, start, stop = shard_range(len(photos), cfg["shard"], align=cfg["batch_size"])
            shard = {"shard": i, "of": n, "total": len(photos), "start": start, "stop": stop}
            photos, note = photos[start:stop], None
            candidate = out / f"images.shard-{i}-of-{n}.zip"
        else:
            photos, note = fit_count(photos, cfg.get("fit_count", "refuse"))
            candidate = out / "images.candidate.zip"
    except SubmissionError as exc:
        summary.update(error=str(exc).replace("photos give", f"{what} give", 1))
        files.write_json(out / "summary.json", summary)
        raise SubmissionError(summary["error"]) from None
    names = entry_names([r["name"] for r in photos])
    comment = json.dumps(shard).encode() if shard else b""
    if cfg["source"] == "nst":
        paths = [str(folder / f"{r['name']}.jpg") for r in photos]
        summary.update(write_jpegs_zip((Path(p).read_bytes() for p in paths), names, candidate, deterministic,
                                       comment))
    else:
        generator_path = Path(cfg["generator"]) if cfg["generator"] else run_dir / "cyclegan" / "generator.keras"
        if not generator_path.is_file():
            raise SubmissionError(f"generator {generator_path} not found: run the cyclegan_train stage first, or "
                                  "set package.generator to a saved .keras generator")
        generator = keras.saving.load_model(generator_path, compile=False)
        summary.update(translate_to_zip(generator, [r["path"] for r in photos], names, candidate,
                                        cfg["batch_size"], cfg["jpeg_quality"], deterministic, comment=comment))
        summary["generator"] = str(generator_path)
        summary.update(_training_state(run_dir, generator_path))
    summary["packaged"] = len(photos)
    if note:
        summary["fit_count"] = note
    if shard:  # a partial archive: the merge step checks Kaggle's rules on the whole
        summary.update(shard=shard, zip=str(candidate), valid=None)
        _grid(out / f"grid.shard-{shard['shard']}-of-{shard['of']}.png", photos, candidate, cfg)
        files.write_json(out / f"summary.shard-{shard['shard']}-of-{shard['of']}.json", summary)
        return summary
    try:
        check_count(len(photos), what)
        summary.update(validate_zip(candidate), valid=True, zip=str(final))
        candidate.replace(final)
    except SubmissionError as exc:
        rejected = out / "images.rejected.zip"
        candidate.replace(rejected)
        summary.update(valid=False, error=str(exc), zip=str(rejected))
        raise
    finally:
        _grid(out / "grid.png", photos, Path(summary["zip"]) if summary.get("zip") else candidate, cfg)
        files.write_json(out / "summary.json", summary)
    return summary


def _training_state(run_dir: Path, generator_path: Path) -> dict:
    """What the package summary repeats of training: stopped early, or fewer steps than planned (said loudly)."""
    path = run_dir / "cyclegan" / "summary.json"
    if not path.is_file() or generator_path != run_dir / "cyclegan" / "generator.keras":
        return {}
    trained = json.loads(path.read_text())
    out = {"trained_steps": trained.get("global_steps"), "planned_steps": trained.get("planned_steps"),
           "chosen_checkpoint": trained.get("chosen_checkpoint")}
    if trained.get("warning") or trained.get("stopped_early"):
        out["training_warning"] = trained.get("warning") or trained["stopped_early"]
    return out


def _grid(path: Path, photos: list[dict], zip_path: Path, cfg: dict) -> None:
    """Photos above the images submitted for them (nothing when no image was written)."""
    from . import plots

    if not zip_path.is_file():
        return
    with zipfile.ZipFile(zip_path) as zf:
        total = len(zf.namelist())
        names = zf.namelist()[:min(cfg["sample_images"], len(photos))]
        results = [np.asarray(Image.open(io.BytesIO(zf.read(n))).convert("RGB")) for n in names]
    if not results:
        return
    sources = [np.asarray(Image.open(r["path"]).convert("RGB")) for r in photos[:len(results)]]
    plots.image_grid([sources, results], path, row_titles=["photo", "submitted"], title=f"{total:,} images")


# ------------------------------------------------------------------------------------------- shards
def shard_range(n_items: int, spec: str, align: int = 1) -> tuple[int, int, int, int]:
    """(i, n, start, stop) of shard 'i/n' (1-based): the i-th of n contiguous, near-equal shares of n_items,
    cut at multiples of ``align`` (the batch size), so that every image is translated in the same batch as in a
    one-shot run and the merged zip is identical to it."""
    i, n = (int(v) for v in spec.split("/"))
    if not 1 <= i <= n:
        raise ValueError(f"shard {spec!r}: expected i/n with 1 <= i <= n")
    blocks = -(-n_items // align)
    return i, n, min(n_items, blocks * (i - 1) // n * align), min(n_items, blocks * i // n * align)


def merge_shards(paths: list[str | Path], zip_path: str | Path, deterministic: bool = False,
                 validate: bool = True) -> dict:
    """Join the partial archives of ``package.shard: i/n`` runs into one zip, in shard order, and (by default)
    check it against Kaggle's rules. Missing, repeated or overlapping shards are refused, naming them."""
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
                handles.setdefault(path, zipfile.ZipFile(path))
                yield handles[path].read(name)
        finally:
            for handle in handles.values():
                handle.close()

    summary = write_jpegs_zip(blobs(), names, zip_path, deterministic)
    if validate:
        summary.update(validate_zip(zip_path))
    return summary


def main(argv=None) -> int:
    """``python -m monet.submission validate ZIP`` or ``merge SHARD... --out ZIP``."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m monet.submission")
    sub = ap.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check a zip against Kaggle's rules")
    v.add_argument("zip")
    m = sub.add_parser("merge", help="join package.shard archives into one images.zip")
    m.add_argument("shards", nargs="+")
    m.add_argument("--out", required=True)
    m.add_argument("--deterministic", action="store_true", help="fixed zip timestamps")
    args = ap.parse_args(argv)
    try:
        if args.command == "validate":
            result = validate_zip(args.zip)
        else:
            result = merge_shards(args.shards, args.out, args.deterministic)
    except (SubmissionError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"valid: {result['count']:,} images, {result['bytes']:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
