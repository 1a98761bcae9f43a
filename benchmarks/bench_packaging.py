#!/usr/bin/env python
"""Packaging throughput: (a) the bare batched generator forward pass, (b) our packaging path
(monet.package.translator.translate_to_zip: tf.data decoding, one compiled batched call, JPEG encoding in threads,
streamed into the zip), (c) the public tutorial's way (model called on one image at a time, each JPEG saved to
disk with Pillow, then the folder zipped). Same photos, same generator weights, one run.

    python benchmarks/bench_packaging.py [--images 1024] [--filters 8] [--res-blocks 2] [--batch-size 32]

Prints images/s for each, our path's fixed cost per call and steady rate separately (``fixed_cost_s=``,
``steady_images_per_s=``), the ratio of that steady rate to the bare forward pass (``ratio_vs_forward=``) and,
last, ``ratio_vs_tutorial=<b/c>``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--filters", type=int, default=8, help="generator filters (quickstart: 8; the report: 64)")
    ap.add_argument("--res-blocks", type=int, default=2, help="residual blocks (quickstart: 2; the report: 9)")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf
    from PIL import Image

    from monet.data import fetch as data, tfdata as datasets
    from monet.models import networks
    from monet.package import translator

    work = Path(tempfile.mkdtemp(prefix="monet-bench-"))
    try:
        root = data.make_synthetic(work / "data", n_monet=1, n_photo=args.images, seed=0)
        paths = sorted(str(p) for p in (root / "photo_jpg").glob("*.jpg"))
        names = [Path(p).stem for p in paths]
        keras.utils.set_random_seed(0)
        gen = networks.resnet_generator(args.filters, 2, args.res_blocks)
        print(f"{len(paths)} photos at 256 px, generator {args.filters} filters / {args.res_blocks} residual blocks "
              f"({gen.count_params():,} parameters), batch {args.batch_size}, {os.cpu_count()} CPUs")

        # (a) bare batched forward pass on decoded images already in memory
        images = np.stack([np.asarray(Image.open(p), dtype=np.float32) / 127.5 - 1 for p in paths])
        forward = tf.function(lambda x: gen(x, training=False),
                              input_signature=[tf.TensorSpec([None, 256, 256, 3], tf.float32)])
        forward(images[:args.batch_size])  # trace
        t0 = time.perf_counter()
        for i in range(0, len(images), args.batch_size):
            forward(images[i:i + args.batch_size]).numpy()
        a = len(images) / (time.perf_counter() - t0)
        del images

        # (b) our packaging path, end to end: read, decode, translate, encode, zip. Timed on a fresh generator:
        # the first call pays the trace (once per generator and process); later calls of any size pay a fixed
        # cost f plus n / r, solved from a small and a full call.
        def timed(n, target):
            t0 = time.perf_counter()
            translator.translate_to_zip(gen, paths[:n], names[:n], work / target, args.batch_size, progress=False)
            return time.perf_counter() - t0

        small = min(len(paths) // 4, 4 * args.batch_size)
        first = timed(len(paths), "first.zip")
        full = timed(len(paths), "ours.zip")
        part = timed(small, "small.zip")
        rate = (len(paths) - small) / max(full - part, 1e-9)
        fixed = max(0.0, full - len(paths) / rate)
        b = len(paths) / full

        # (c) the public tutorial's loop
        out = work / "tutorial_images"
        out.mkdir()
        ds = datasets.photo_batches(paths, 1)
        gen(next(iter(ds)), training=False)  # warm
        t0 = time.perf_counter()
        for i, img in enumerate(ds, start=1):
            prediction = gen(img, training=False)[0].numpy()
            prediction = (prediction * 127.5 + 127.5).astype(np.uint8)
            Image.fromarray(prediction).save(out / f"{i}.jpg")
        shutil.make_archive(str(work / "tutorial"), "zip", str(out))
        c = len(paths) / (time.perf_counter() - t0)

        print(f"(a) bare batched forward pass: {a:8.1f} images/s")
        print(f"(b) our packaging path:        {b:8.1f} images/s (a {len(paths)}-photo call after the first)")
        print(f"    first call's extra (trace, once per generator): {first - full:.1f} s")
        print(f"    fixed cost per later call: {fixed:.2f} s; steady rate: {rate:.1f} images/s")
        print(f"(c) tutorial's loop:           {c:8.1f} images/s")
        print(f"7,038 photos: (b) {7038 / b / 60:.1f} min, (c) {7038 / c / 60:.1f} min")
        print(f"fixed_cost_s={fixed:.2f}")
        print(f"steady_images_per_s={rate:.1f}")
        print(f"ratio_vs_forward={rate / a:.2f}")
        print(f"ratio_vs_tutorial={b / c:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
