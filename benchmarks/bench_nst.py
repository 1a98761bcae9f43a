#!/usr/bin/env python
"""Style-transfer speed: the public Keras example's way against our default path, same photos, same styles.

(single) the example's way: one image at a time; each iteration runs VGG19 on the concatenation of the content
         photo, the style painting and the image being optimized, and applies Keras's SGD with
         ExponentialDecay(100, 100, 0.96); ``--iterations`` iterations per image (the issue's: 600).
(ours)   monet.style.painter.BatchPainter with the schema's default nst params (SGD, the same schedule), all images
         in one batch, style and content targets computed once; it runs until every image's loss is at or below
         the loss the example reached for that image.

    python benchmarks/bench_nst.py                                    # the issue's setting: 16 photos, 256 px, 600
    python benchmarks/bench_nst.py --images 4 --size 128 --iterations 60   # a few minutes on a 2-core CPU

Weights: ``--weights imagenet`` (download or Keras cache), a weights file, or ``none`` (random, the default
here: the timing is the same, the images are not real style transfers). The last line is
``ratio_vs_single=<time single / time ours>``.
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
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=600)
    ap.add_argument("--weights", default="none")
    ap.add_argument("--jit-compile", action="store_true", help="XLA for our step (the nst.yaml setting on GPU)")
    args = ap.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from monet.core import params
    from monet.data import fetch as data
    from monet.models import losses
    from monet.style import painter as P

    work = Path(tempfile.mkdtemp(prefix="monet-nst-bench-"))
    try:
        root = data.make_synthetic(work / "data", n_monet=args.images, n_photo=args.images, seed=0)
        size = (args.size, args.size)
        photos = [P.load_image(p, size) for p in sorted((root / "photo_jpg").glob("*.jpg"))]
        styles = [P.load_image(p, size) for p in sorted((root / "monet_jpg").glob("*.jpg"))]
        cfg = params.defaults()["nst"]
        cfg.update(vgg_weights=args.weights, max_iterations=10 * args.iterations, patience=10 * args.iterations,
                   jit_compile=args.jit_compile)
        keras.utils.set_random_seed(0)
        extractor = P.feature_extractor(P.load_vgg19(args.weights), cfg["style_layers"], cfg["content_layer"])
        n_style = len(cfg["style_layers"])
        pixels = args.size * args.size
        print(f"{args.images} photos at {args.size} px, {args.iterations} iterations, VGG19 weights {args.weights}, "
              f"{os.cpu_count()} CPUs, devices {[d.device_type for d in tf.config.list_logical_devices()]}")

        # (single) the example's compute_loss_and_grads, one image at a time
        def example_loss(combination, base, style):
            feats = extractor(tf.concat([base, style, combination], axis=0))
            loss = cfg["content_weight"] * losses.content_loss(feats[-1][0:1], feats[-1][2:3])[0]
            for f in feats[:-1]:
                loss += cfg["style_weight"] / n_style * losses.style_loss(
                    losses.gram_matrix(f[1:2]), losses.gram_matrix(f[2:3]), pixels)[0]
            return loss + cfg["tv_weight"] * losses.total_variation_loss(combination)[0]

        @tf.function
        def loss_and_grads(combination, base, style):
            with tf.GradientTape() as tape:
                loss = example_loss(combination, base, style)
            return loss, tape.gradient(loss, combination)

        targets, t_single = [], 0.0
        for photo, style in zip(photos, styles):
            base, sty = (tf.constant(P.vgg_preprocess(a[None])) for a in (photo, style))
            combination = tf.Variable(base)
            opt = keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(100.0, 100, 0.96))
            loss_and_grads(combination, base, sty)  # trace once, outside the timing (as ours below)
            t0 = time.perf_counter()
            for _ in range(args.iterations):
                loss, grads = loss_and_grads(combination, base, sty)
                opt.apply_gradients([(grads, combination)])
            targets.append(float(example_loss(combination, base, sty)))
            t_single += time.perf_counter() - t0

        # (ours) the default path: one batch, per-image state, targets computed once
        painter = P.BatchPainter(extractor, cfg, size, len(photos))
        for i, (photo, style) in enumerate(zip(photos, styles)):
            painter.load(i, photo, style)
        warm = P.BatchPainter(extractor, cfg, size, len(photos))
        warm.load(0, photos[0], styles[0])
        warm.step()  # trace once, outside the timing
        first = painter.step()["total"]  # loss of the unchanged photo: must match the example's definition
        check = float(example_loss(tf.constant(P.vgg_preprocess(photos[0][None])),
                                   tf.constant(P.vgg_preprocess(photos[0][None])),
                                   tf.constant(P.vgg_preprocess(styles[0][None]))))
        print(f"loss check (iteration 1, image 0): ours {first[0]:.6g}, example's {check:.6g}")
        t0 = time.perf_counter()
        iterations = 1
        reached = np.zeros(len(photos), bool)
        while not reached.all() and iterations < 10 * args.iterations:
            out = painter.step()
            iterations += 1
            reached |= out["total"] <= np.asarray(targets) * (1 + 1e-6)
        t_ours = time.perf_counter() - t0
        if not reached.all():
            print("WARNING: our path did not reach every target loss")

        per_image_single = t_single / len(photos)
        per_image_ours = t_ours / len(photos)
        print(f"(single) example's way: {t_single:8.1f} s  ({per_image_single:.2f} s per image)")
        print(f"(ours)   batched path:  {t_ours:8.1f} s  ({per_image_ours:.2f} s per image, {iterations} iterations)")
        print(f"7,038 photos at this setting: single {7038 * per_image_single / 3600:.1f} h, "
              f"ours {7038 * per_image_ours / 3600:.1f} h")
        print(f"ratio_vs_single={t_single / t_ours:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
