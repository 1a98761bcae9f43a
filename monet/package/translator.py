"""Translating photos with a generator into ``images.zip``: the compiled batch translation (traced once per
generator), the streaming translation into the zip, and the time that path takes (what a time budget keeps for
packaging)."""
from __future__ import annotations

import functools
import tempfile
import time
from pathlib import Path

from monet.core import budget, progress as monet_progress
from monet.package.images_zip import FLAT_STD, SubmissionError, encode_batches, is_flat, validate_zip, write_jpegs_zip

__all__ = ["translator", "translate_to_zip", "measure_packaging", "check_output"]


@functools.lru_cache(maxsize=4)
def translator(generator):
    """The generator's compiled batch translation to uint8, traced once per generator and process (not once per
    call: packaging several checkpoints, or timing a sample first, pays the trace once)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, 256, 256, 3], tf.float32)])
    def translate(x):
        y = generator(x, training=False)
        return tf.cast(tf.clip_by_value(tf.round((tf.cast(y, tf.float32) + 1.0) * 127.5), 0.0, 255.0), tf.uint8)

    return translate


def check_output(generator, photo_paths: list[str], count: int = 8) -> None:
    """Refuse a generator whose output is not an image, before hours of packaging: SubmissionError naming the
    check when any value of its first ``count`` photos' output is non-finite (NaN weights, which the uint8 cast
    would turn into black images), or when every one of them is near-constant (a diverged or collapsed network)."""
    import numpy as np
    import tensorflow as tf

    from monet.data import tfdata

    x = next(iter(tfdata.photo_batches(list(photo_paths[:count]), count)))
    y = tf.cast(generator(tf.cast(x, tf.float32), training=False), tf.float32).numpy()
    bad = int(np.size(y) - np.isfinite(y).sum())
    if bad:
        raise SubmissionError(f"check 'non-finite output': the generator returns {bad:,} NaN or infinite values for "
                              f"its first {len(y)} photos (training diverged); nothing was packaged. Package an "
                              "earlier checkpoint (package.generator) or train again with a lower learning rate.")
    levels = (y + 1.0) * 127.5
    if all(is_flat(im) for im in levels):
        raise SubmissionError(f"check 'near-constant output': the generator paints each of its first {len(y)} photos "
                              f"as one flat colour (pixel standard deviation < {FLAT_STD} level); nothing was "
                              "packaged. Package an earlier checkpoint (package.generator) or train again.")


def _batch_plan(photo_paths: list[str], start: int, stop: int, batch_size: int):
    """The distinct paths in order of first appearance, the distinct index of each entry of ``[start, stop)``,
    and the distinct indices to translate: whole batches of the distinct paths' grid that hold a wanted one (the
    last may be short: it is also the last in order), so a shard translates what a one-shot call would."""
    position: dict[str, int] = {}
    for p in photo_paths:
        position.setdefault(p, len(position))
    distinct = list(position)
    wanted = [position[p] for p in photo_paths[start:stop]]
    order = [u for b in sorted({u // batch_size for u in wanted})
             for u in range(b * batch_size, min(len(distinct), (b + 1) * batch_size))]
    return distinct, wanted, order


def translate_to_zip(generator, photo_paths: list[str], names: list[str], zip_path: str | Path,
                     batch_size: int = 32, quality: int = 95, deterministic: bool = False,
                     progress: bool = True, comment: bytes = b"", span: tuple[int, int] | None = None,
                     post=None) -> dict:
    """Translate the photos with ``generator`` (a Keras model, [-1, 1] in and out) straight into a zip whose
    entries are ``names`` (one per path, in order).

    Batched inference in one compiled function (traced once per generator); decoding (tf.data) and JPEG
    encoding (threads; each image through ``post`` first when given, the package's filters) overlap with the
    model. A path listed more than once (``package.fit_count: repeat``) is translated once and its JPEG written
    under each of its names. Batches are cut from the distinct paths in order of first appearance, and
    ``span=(start, stop)`` writes only those entries (a shard), translating the same batches a one-shot call
    would: every image's bytes are the same either way. Returns the
    :func:`write_jpegs_zip` summary plus ``translated`` (forward passes) and images per second.
    """
    import sys
    from collections import Counter

    from tqdm import tqdm

    from monet.data import tfdata

    translate = translator(generator)
    start, stop = span or (0, len(photo_paths))
    distinct, wanted, order = _batch_plan(photo_paths, start, stop, batch_size)
    uses = Counter(wanted)

    def batches():
        ds = tfdata.photo_batches([distinct[u] for u in order], batch_size)
        bar = tqdm(total=len(order), desc="translating", unit="img", file=sys.stdout, mininterval=10,
                   ascii=True, disable=not progress)
        live = monet_progress.Progress("translating", len(order), "images") if progress else None
        for x in ds:
            out = translate(x).numpy()
            bar.update(len(out))
            if live:
                live.update(bar.n)
            yield out
        bar.close()

    def jpegs():  # in entry order; a JPEG is held only until its last use
        translated, held = zip(order, encode_batches(batches(), quality, post=post)), {}
        for u in wanted:
            while u not in held:
                v, jpeg = next(translated)
                if uses[v]:
                    held[v] = jpeg
            yield held[u]
            uses[u] -= 1
            if not uses[u]:
                del held[u]

    summary = write_jpegs_zip(jpegs(), names[start:stop], zip_path, deterministic, comment)
    summary["translated"] = len(order)
    summary["images_per_second"] = round(summary["count"] / max(summary["seconds"], 1e-9), 2)
    return summary



def measure_packaging(generator, photo_paths: list[str], batch_size: int = 32, quality: int = 95,
                      sample: int = 64, post=None) -> budget.Reserve:
    """Time the real packaging path (:func:`monet.package.translator.translate_to_zip` and the zip check) on ``sample``
    photos, twice: the first call's extra time (tracing) counts as fixed cost, the second gives the per-image
    cost; both scaled to every photo, plus a kernel's start."""
    chosen = list(photo_paths[:max(2, min(sample, len(photo_paths)))])
    names = [Path(p).stem for p in chosen]
    with tempfile.TemporaryDirectory(prefix="monet-reserve-") as tmp:
        timings = []
        for attempt in range(2):
            target = Path(tmp) / f"try{attempt}.zip"
            t0 = time.perf_counter()
            translate_to_zip(generator, chosen, names, target, batch_size, quality, progress=False, post=post)
            validate_zip(target, decode=True, rules=False)
            timings.append(time.perf_counter() - t0)
    per_image = timings[1] / len(chosen)
    fixed = budget.KERNEL_OVERHEAD_S + max(0.0, timings[0] - timings[1])
    return budget.Reserve(fixed, per_image, len(photo_paths), f"measured on {len(chosen)} photos")
