#!/usr/bin/env python
"""Training speed: our CycleGAN train step against a plain Keras ``model.fit`` of a CycleGAN model with a
``train_step`` override in the shape of keras-io's CycleGAN example (all four gradients computed, then all
applied), and the cost of the leaderboard recipe's levers. Same models (same initial weights), same data, same
machine, one run.

    python benchmarks/bench_training.py [--steps 20] [--rounds 9] [--warmup 10] [--size 256] [--filters 8] [--crop 128] [--generator unet] [--xla]

Each variant is traced and then warmed up for ``--warmup`` steps before anything is timed (the first steps after a
trace are slow for reasons that have nothing to do with the variant: allocator and oneDNN primitive caches; timing
the first variant cold is what made ours look 0.55x as fast as ``fit`` before). Then ``--rounds`` rounds time
``--steps`` steps of each variant in turn, alternating (each round starting with another variant), so that a
machine that slows down or speeds up meanwhile touches all of them alike; short rounds keep a passing slowdown
(this machine's host sometimes halves every variant's speed for a while) to few rounds, and the median ignores
them. The ratios are of the variants' medians, with the spread of the per-round ratios. Prints each variant's median steps/s with the spread (min-max over rounds), then
``ratio_vs_fit=<median of ours / fit per round> (min-max)``, ``lever_cost=<report step time with every
lever of params/leaderboard.yaml on / without> - 1 (min-max)`` (the same networks: the levers, not the U-Net)
and, last, ``cut_cost=`` and ``fastcut_cost=``: a CUT / FastCUT step's time (``cyclegan.model``, official
defaults: 256 patches per NCE layer, net_f of 256 units) divided by our CycleGAN step's, on the same generator and
discriminator (min-max of the per-round ratios), and ``crop_cost=``: a step on ``--crop``-px crops
(``cyclegan.train_size``) divided by one at ``--size``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--filters", type=int, default=8)
    ap.add_argument("--res-blocks", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--crop", type=int, default=128, help="cyclegan.train_size of the crop variant")
    ap.add_argument("--generator", default="resnet", choices=("resnet", "unet"))
    ap.add_argument("--unet-depth", type=int, default=6, help="with --generator unet (params/cpu.yaml: 6)")
    ap.add_argument("--xla", action="store_true", help="jit_compile for both (ours: cyclegan.jit_compile)")
    args = ap.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from monet.core import params
    from monet.data import augment
    from monet.gan import cut, cyclegan, schedules
    from monet.models import architecture, losses

    cfg = params.defaults()["cyclegan"]
    cfg.update(generator=args.generator, unet_depth=args.unet_depth, gen_filters=args.filters,
               gen_res_blocks=args.res_blocks, disc_blocks=3, disc_filters=8, disc_kernel=2, disc_strides=2,
               disc_activation="relu")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (args.steps, args.batch_size, args.size, args.size, 3)).astype("float32")
    y = rng.uniform(-1, 1, (args.steps, args.batch_size, args.size, args.size, 3)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat().prefetch(2)

    def fresh():
        keras.utils.set_random_seed(0)
        return cyclegan.CycleGAN(architecture.model_args(cfg), 2e-4)

    def our_variant(lr=2e-4, dataset=ds, **step_options):
        """A function that runs ``steps`` steps of our train step over ``dataset`` and returns the seconds."""
        keras.utils.set_random_seed(0)
        m = cyclegan.CycleGAN(architecture.model_args(cfg), lr, ema=step_options.pop("ema", 0.0))
        step = cyclegan.make_train_step(m, "lsgan", 10.0, 0.5, jit_compile=args.xla, **step_options)
        counter = iter(range(10 ** 9))

        def run(steps):
            t0 = time.perf_counter()
            for real_x, real_y in dataset.take(steps):
                out = step(real_x, real_y, tf.constant(next(counter), tf.int64))
                float(out["gen_g_loss"])  # a host read every step, as train() reads the step's outputs
            return time.perf_counter() - t0

        return run

    def cut_variant(model):
        """Steps of CUT or FastCUT (``model``) on the same networks."""
        keras.utils.set_random_seed(0)
        m = cut.CUT(architecture.model_args({**cfg, "model": model}), 2e-4)
        step = cut.make_cut_step(m, "lsgan", jit_compile=args.xla)
        counter = iter(range(10 ** 9))

        def run(steps):
            t0 = time.perf_counter()
            for real_x, real_y in ds.take(steps):
                float(step(real_x, real_y, tf.constant(next(counter), tf.int64))["gen_g_loss"])
            return time.perf_counter() - t0

        return run

    variants = {"ours": our_variant(), "cut": cut_variant("cut"), "fastcut": cut_variant("fastcut")}
    # cyclegan.train_size: the same step on random crops (a corner here: the cost does not depend on where)
    crops = tf.data.Dataset.from_tensor_slices((x[:, :, :args.crop, :args.crop], y[:, :, :args.crop, :args.crop]))
    variants["crop"] = our_variant(dataset=crops.repeat().prefetch(2))
    # every lever of the leaderboard recipe on the same networks: augmented data, DiffAugment, label smoothing,
    # the linear-decay schedule (and EMA when the file turns it on)
    board = params.load_params(Path(__file__).resolve().parents[1] / "params" / "leaderboard.yaml")["cyclegan"]
    keys = tf.constant(np.arange(args.steps * 2, dtype=np.int64).reshape(args.steps, 2))
    augmented = tf.data.Dataset.from_tensor_slices((x, y, keys)).map(
        lambda a, b, k: (tf.stack([augment.augment_image(i, tuple(board["augment_photo"]), k) for i in tf.unstack(a)]),
                         tf.stack([augment.augment_image(i, tuple(board["augment_monet"]), k + 1) for i in tf.unstack(b)])),
        num_parallel_calls=tf.data.AUTOTUNE).repeat().prefetch(2)
    schedule = schedules.learning_rate(board["lr_schedule"], 2e-4, 10 ** 6, board["decay_from"])
    variants["levers"] = our_variant(schedule, augmented, diffaugment=board["diffaugment"],
                                     label_smoothing=board["label_smoothing"], ema=board["ema"])

    # the public example's shape: a keras.Model with a train_step override, driven by fit
    class FitCycleGAN(keras.Model):
        def __init__(self, gan):
            super().__init__()
            self.gen_g, self.gen_f, self.disc_x, self.disc_y = (gan.models[k] for k in cyclegan.MODEL_NAMES)
            self.opts = gan.optimizers

        def train_step(self, batch):
            real_x, real_y = batch
            with tf.GradientTape(persistent=True) as tape:
                fake_y = self.gen_g(real_x, training=True)
                cycled_x = self.gen_f(fake_y, training=True)
                fake_x = self.gen_f(real_y, training=True)
                cycled_y = self.gen_g(fake_x, training=True)
                same_x, same_y = self.gen_f(real_x, training=True), self.gen_g(real_y, training=True)
                d_real_x, d_fake_x = self.disc_x(real_x, training=True), self.disc_x(fake_x, training=True)
                d_real_y, d_fake_y = self.disc_y(real_y, training=True), self.disc_y(fake_y, training=True)
                cycle = losses.cycle_loss(real_x, cycled_x) + losses.cycle_loss(real_y, cycled_y)
                g_loss = losses.generator_loss(d_fake_y) + 10.0 * cycle + 5.0 * losses.identity_loss(real_y, same_y)
                f_loss = losses.generator_loss(d_fake_x) + 10.0 * cycle + 5.0 * losses.identity_loss(real_x, same_x)
                dx_loss = losses.discriminator_loss(d_real_x, d_fake_x)
                dy_loss = losses.discriminator_loss(d_real_y, d_fake_y)
            pairs = ((g_loss, self.gen_g, "gen_g"), (f_loss, self.gen_f, "gen_f"),
                     (dx_loss, self.disc_x, "disc_x"), (dy_loss, self.disc_y, "disc_y"))
            grads = [tape.gradient(loss, model.trainable_variables) for loss, model, _ in pairs]  # all four first
            for (_, model, name), g in zip(pairs, grads):  # then all applied, as keras-io's example does
                self.opts[name].apply_gradients(zip(g, model.trainable_variables))
            return {"gen_g_loss": g_loss, "gen_f_loss": f_loss, "disc_x_loss": dx_loss, "disc_y_loss": dy_loss}

    fit_model = FitCycleGAN(fresh())
    fit_model.compile(jit_compile=args.xla)

    def fit_run(steps):
        t0 = time.perf_counter()
        fit_model.fit(ds.take(steps), epochs=1, verbose=0)
        return time.perf_counter() - t0

    variants["fit"] = fit_run
    for run in variants.values():  # trace, then warm up: nothing cold is timed
        run(1)
        run(args.warmup)
    rates = {name: [] for name in variants}
    names = list(variants)
    for r in range(args.rounds):  # each round in another order: no variant always follows the same one
        for name in names[r % len(names):] + names[:r % len(names)]:
            rates[name].append(args.steps / variants[name](args.steps))

    def figure(values):
        return f"{float(np.median(values)):.2f} ({min(values):.2f}-{max(values):.2f})"

    ratio = [o / f for o, f in zip(rates["ours"], rates["fit"])]
    cost = [o / lv - 1 for o, lv in zip(rates["ours"], rates["levers"])]
    median = lambda name: float(np.median(rates[name]))  # noqa: E731
    shape = (f"{args.res_blocks} residual blocks" if args.generator == "resnet" else f"depth {args.unet_depth}")
    print(f"{args.rounds} rounds of {args.steps} steps of batch {args.batch_size} at {args.size} px after "
          f"{args.warmup} warm-up steps each, alternating; generator {args.generator}, {args.filters} filters, "
          f"{shape}, XLA {'on' if args.xla else 'off'}, {os.cpu_count()} CPUs, "
          f"devices {[d.device_type for d in tf.config.list_logical_devices()]}; median (min-max) steps/s:")
    print(f"ours:      {figure(rates['ours'])}")
    print(f"model.fit: {figure(rates['fit'])}")
    print(f"ours, leaderboard levers on: {figure(rates['levers'])}")
    # the ratio of the medians (a round that the host slowed for one variant only moves a per-round ratio far), with
    # the per-round ratios' spread
    print(f"ratio_vs_fit={median('ours') / median('fit'):.2f} ({min(ratio):.2f}-{max(ratio):.2f})")
    print(f"lever_cost={median('ours') / median('levers') - 1:.3f} ({min(cost):.2f}-{max(cost):.2f})")
    print(f"ours, CUT: {figure(rates['cut'])}; FastCUT: {figure(rates['fastcut'])}")
    for model in ("cut", "fastcut"):  # seconds per step relative to the CycleGAN's: its rate over theirs
        ratios = [o / c for o, c in zip(rates["ours"], rates[model])]
        print(f"{model}_cost={median('ours') / median(model):.3f} ({min(ratios):.2f}-{max(ratios):.2f})")
    ratios = [o / c for o, c in zip(rates["ours"], rates["crop"])]
    print(f"ours on {args.crop}-px crops: {figure(rates['crop'])}")
    print(f"crop_cost={median('ours') / median('crop'):.3f} ({min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
