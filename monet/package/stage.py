"""The packaging stage: translate every photo with the trained generator (or take the painted images) into
``images.zip``, refusing a count Kaggle would reject before translating, with a grid of results.

The zip itself (streaming, Kaggle's rules, shards) is :mod:`monet.package.images_zip`; translating photos into
it, :mod:`monet.package.translator`.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from monet.core import files
from monet.package.images_zip import (MAX_IMAGES, MIN_IMAGES, SubmissionError, check_count, entry_names, validate_zip,
                                      write_jpegs_zip)
from monet.package.postprocess import Postprocess, palette
from monet.package.translator import check_output, translate_to_zip

__all__ = ["fit_count", "filters", "package", "shard_range"]


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
    """The package stage: translate the photos of the run's manifest with the trained generator, through the
    filters of :func:`filters` when set (or zip the NST stage's images), into ``<run>/images.zip``, validate it,
    and write ``submission/summary.json`` and ``submission/grid.png``.

    A photo count outside Kaggle's rules is refused before anything is translated (see :func:`fit_count`). An
    earlier ``images.zip`` is moved to ``submission/images.previous.zip`` first, so a failed repackaging never
    leaves a stale zip to submit. A zip that Kaggle would reject is kept as ``submission/images.rejected.zip``
    (never as ``images.zip``) and SubmissionError says why.
    """
    if deterministic:  # forward passes only: op determinism, oneDNN may stay on (see environment.GRADIENT_STAGES)
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    run_dir = Path(run_dir)
    out = run_dir / "submission"
    out.mkdir(parents=True, exist_ok=True)
    photos, what, summary = _sources(run_dir, cfg)
    if (run_dir / "images.zip").is_file() and not cfg.get("shard"):
        (run_dir / "images.zip").replace(out / "images.previous.zip")
        summary["previous_zip"] = str(out / "images.previous.zip")
    try:  # the count is fitted first, so that shards split the same images as a one-shot run
        photos, note = fit_count(photos, cfg.get("fit_count", "refuse"))
    except SubmissionError as exc:
        summary.update(error=str(exc).replace("photos give", f"{what} give", 1))
        files.write_json(out / "summary.json", summary)
        raise SubmissionError(summary["error"]) from None
    start, stop, shard, candidate = _span(out, photos, cfg)
    _write_candidate(run_dir, cfg, photos, (start, stop), shard, candidate, deterministic, summary)
    photos = photos[start:stop]
    summary["packaged"] = len(photos)
    if note:
        summary["fit_count"] = note
    if shard:  # a partial archive: the merge step checks Kaggle's rules on the whole
        summary.update(shard=shard, zip=str(candidate), valid=None)
        _grid(out / f"grid.shard-{shard['shard']}-of-{shard['of']}.png", photos, candidate, cfg)
        files.write_json(out / f"summary.shard-{shard['shard']}-of-{shard['of']}.json", summary)
        return summary
    return _check_and_place(run_dir, cfg, photos, what, candidate, summary)


def _sources(run_dir: Path, cfg: dict) -> tuple[list[dict], str, dict]:
    """The photos to package (under ``source: nst``, those with a painted image), what they are called in
    messages, and the summary's first fields."""
    from monet.data import fetch

    all_photos = fetch.read_manifest(run_dir)["photo"]
    summary: dict = {"photos": len(all_photos), "count": 0, "valid": False}
    if cfg["source"] != "nst":
        summary.update(source="cyclegan")
        return all_photos, "photos", summary
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
    return photos, what, summary


def _span(out: Path, photos: list[dict], cfg: dict) -> tuple[int, int, dict | None, Path]:
    """The entries this call writes (all, or a shard's) and the zip they go to."""
    if not cfg.get("shard"):
        return 0, len(photos), None, out / "images.candidate.zip"
    i, n, start, stop = shard_range(len(photos), cfg["shard"], align=cfg["batch_size"])
    return start, stop, {"shard": i, "of": n, "total": len(photos), "start": start, "stop": stop}, \
        out / f"images.shard-{i}-of-{n}.zip"


def _write_candidate(run_dir: Path, cfg: dict, photos: list[dict], span: tuple[int, int], shard: dict | None,
                     candidate: Path, deterministic: bool, summary: dict) -> None:
    """Write the entries of ``span`` into ``candidate``: the NST images as they are, or photos translated by the
    generator."""
    import keras

    from monet.models import networks  # noqa: F401 - networks registers the custom layers for loading

    names = entry_names([r["name"] for r in photos])
    comment = json.dumps(shard).encode() if shard else b""
    start, stop = span
    if cfg["source"] == "nst":
        paths = [run_dir / "nst" / "images" / f"{r['name']}.jpg" for r in photos[start:stop]]
        summary.update(write_jpegs_zip((p.read_bytes() for p in paths), names[start:stop], candidate,
                                       deterministic, comment))
        return
    generator_path = Path(cfg["generator"]) if cfg["generator"] else run_dir / "cyclegan" / "generator.keras"
    if not generator_path.is_file():
        raise SubmissionError(f"generator {generator_path} not found: run the cyclegan_train stage first, or "
                              "set package.generator to a saved .keras generator")
    generator = keras.saving.load_model(generator_path, compile=False)
    check_output(generator, [r["path"] for r in photos])
    post = filters(run_dir, cfg)
    summary.update(translate_to_zip(generator, [r["path"] for r in photos], names, candidate, cfg["batch_size"],
                                    cfg["jpeg_quality"], deterministic, comment=comment, span=span, post=post))
    summary["generator"] = str(generator_path)
    if post:
        summary["filters"] = post.describe()
    summary.update(_training_state(run_dir, generator_path))


def filters(run_dir: str | Path, cfg: dict) -> Postprocess:
    """The filters of ``package`` (``mode_filter``, ``colour_match``, ``grain``, ``grain_grey``); colour matching
    takes its target from the run's training paintings (the fetch stage's manifest)."""
    from monet.data import fetch

    how, mode, sd = cfg.get("colour_match") or "off", cfg.get("mode_filter") or 0, float(cfg.get("grain") or 0)
    grey = bool(cfg.get("grain_grey"))
    if how == "off":
        return Postprocess(mode, grain=sd, grain_grey=grey)
    paintings = (np.asarray(Image.open(r["path"]).convert("RGB")) for r in fetch.read_manifest(run_dir)["monet"])
    return Postprocess(mode, how, palette(paintings), sd, grey)


def _check_and_place(run_dir: Path, cfg: dict, photos: list[dict], what: str, candidate: Path,
                     summary: dict) -> dict:
    """Kaggle's rules on the whole zip: ``images.zip`` when it passes, ``submission/images.rejected.zip`` (and the
    error) when not; the grid and the summary either way."""
    out = run_dir / "submission"
    try:
        check_count(len(photos), what)
        summary.update(validate_zip(candidate), valid=True, zip=str(run_dir / "images.zip"))
        candidate.replace(run_dir / "images.zip")
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
    from monet.core import plots

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
