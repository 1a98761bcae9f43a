"""CycleGAN training: the train step, the epoch loop, checkpoints, resume and history.

Names follow the paper (Zhu et al. 2017): X = photos, Y = Monet paintings;
``gen_g``: X -> Y (photo to Monet, the generator we submit), ``gen_f``: Y -> X,
``disc_x`` judges photos, ``disc_y`` judges paintings; ``lambda_cycle``, ``lambda_identity``.

Run folder products (``<run>/cyclegan/``): ``history.csv`` (losses per step), ``losses.png``,
``samples/epoch_NN.png``, ``checkpoints/epoch_NNNN/`` (weights, optimizer state and ``checkpoint.json`` with the
arguments that rebuild the models), ``generator.keras`` (the final gen_g) and ``summary.json``.
"""
from __future__ import annotations

import csv
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from . import data, distribute, losses, networks, plots, runs
from .params import fingerprint

__all__ = ["CycleGAN", "seed_everything", "model_args", "make_train_step", "save_checkpoint",
           "load_checkpoint", "latest_checkpoint", "train", "LOSS_KEYS"]

LOSS_KEYS = ["gen_g_loss", "gen_f_loss", "disc_x_loss", "disc_y_loss", "cycle_loss", "identity_loss"]
MODEL_NAMES = ("gen_g", "gen_f", "disc_x", "disc_y")
# Keys that may change between a run and its resume without invalidating its checkpoints.
# (The strategy may change too: a checkpoint resumes under another one with the same global batch.)
RESUMABLE_KEYS = ("epochs", "keep_checkpoints", "sample_images", "resume", "jit_compile", "strategy")


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and TensorFlow; with ``deterministic`` also turn on TensorFlow's op determinism."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def model_args(cfg: dict) -> dict:
    """The factory arguments of the four models, from the ``cyclegan`` params section."""
    return {
        "generator": networks.generator_args(cfg["gen_filters"], cfg["gen_down_blocks"], cfg["gen_res_blocks"]),
        "discriminator": networks.discriminator_args(
            blocks=cfg["disc_blocks"], filters=cfg["disc_filters"], kernel=cfg["disc_kernel"],
            strides=cfg["disc_strides"], activation=cfg["disc_activation"], norm=cfg["disc_norm"],
            out_kernel=cfg["disc_out_kernel"], out_stride=cfg["disc_out_stride"],
            out_padding=cfg["disc_out_padding"]),
    }


class CycleGAN:
    """The four models and their four Adam optimizers (built eagerly so their state can be restored), created in
    ``strategy``'s scope (default: the current one). ``loss_scale`` wraps the optimizers for float16."""

    def __init__(self, args: dict, learning_rate: float, beta_1: float = 0.5, strategy=None,
                 loss_scale: bool = False):
        import keras
        import tensorflow as tf

        self.args = args
        self.strategy = strategy or tf.distribute.get_strategy()
        with self.strategy.scope():
            self.models = {
                "gen_g": networks.resnet_generator(**args["generator"], name="gen_g"),
                "gen_f": networks.resnet_generator(**args["generator"], name="gen_f"),
                "disc_x": networks.patch_discriminator(**args["discriminator"], name="disc_x"),
                "disc_y": networks.patch_discriminator(**args["discriminator"], name="disc_y"),
            }
            self.optimizers = {}
            for name, model in self.models.items():
                opt = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1, name=f"adam_{name}")
                if loss_scale:
                    opt = keras.optimizers.LossScaleOptimizer(opt, name=f"loss_scale_{name}")
                opt.build(model.trainable_variables)
                self.optimizers[name] = opt

    def __getattr__(self, name):
        models = self.__dict__.get("models", {})
        if name in models:
            return models[name]
        raise AttributeError(name)

    @property
    def receptive_field(self) -> int:
        return networks.receptive_field(networks.discriminator_layers(**self.args["discriminator"]))


def make_train_step(m: CycleGAN, adversarial: str = "lsgan", lambda_cycle: float = 10.0,
                    lambda_identity: float = 0.5, jit_compile: bool = False):
    """A compiled step ``(real_x, real_y) -> dict of scalar losses`` that updates all four models.

    Under a strategy of several replicas each replica runs the step on its share of the global batch with its
    losses divided by the number of replicas; the optimizers sum the replicas' gradients, so the update equals
    one on the whole global batch, and the returned losses (summed over replicas) are global means.
    """
    import keras
    import tensorflow as tf

    G, F, DX, DY = m.gen_g, m.gen_f, m.disc_x, m.disc_y
    w_identity = lambda_cycle * lambda_identity
    replicas = m.strategy.num_replicas_in_sync

    def per_replica(loss):
        return loss if replicas == 1 else loss / replicas

    def scaled(name, loss):  # float16: dynamic loss scaling; apply_gradients unscales
        opt = m.optimizers[name]
        return opt.scale_loss(loss) if isinstance(opt, keras.optimizers.LossScaleOptimizer) else loss

    def replica_step(real_x, real_y):
        with tf.GradientTape(persistent=True) as tape:
            fake_y = G(real_x, training=True)
            cycled_x = F(fake_y, training=True)
            fake_x = F(real_y, training=True)
            cycled_y = G(fake_x, training=True)
            same_y = G(real_y, training=True)  # identity: a painting should pass through G unchanged
            same_x = F(real_x, training=True)
            d_real_x, d_fake_x = DX(real_x, training=True), DX(fake_x, training=True)
            d_real_y, d_fake_y = DY(real_y, training=True), DY(fake_y, training=True)
            cycle = losses.cycle_loss(real_x, cycled_x) + losses.cycle_loss(real_y, cycled_y)
            id_g, id_f = losses.identity_loss(real_y, same_y), losses.identity_loss(real_x, same_x)
            out = {
                "gen_g_loss": losses.generator_loss(d_fake_y, adversarial) + lambda_cycle * cycle + w_identity * id_g,
                "gen_f_loss": losses.generator_loss(d_fake_x, adversarial) + lambda_cycle * cycle + w_identity * id_f,
                "disc_x_loss": losses.discriminator_loss(d_real_x, d_fake_x, adversarial),
                "disc_y_loss": losses.discriminator_loss(d_real_y, d_fake_y, adversarial),
            }
            # Inside the tape: the replica share and the float16 loss scale must be recorded to be differentiated.
            targets = {name: scaled(name, per_replica(out[f"{name}_loss"])) for name in MODEL_NAMES}
        grads = {name: tape.gradient(targets[name], m.models[name].trainable_variables) for name in MODEL_NAMES}
        del tape
        for name in MODEL_NAMES:
            m.optimizers[name].apply_gradients(list(zip(grads[name], m.models[name].trainable_variables)))
        return {k: per_replica(v) for k, v in {**out, "cycle_loss": cycle, "identity_loss": id_g + id_f}.items()}

    if replicas == 1 and not isinstance(m.strategy, tf.distribute.TPUStrategy):
        return tf.function(replica_step, jit_compile=jit_compile)

    def step(real_x, real_y):
        results = m.strategy.run(replica_step, args=(real_x, real_y))
        return {k: m.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in results.items()}

    return tf.function(step)


# ---------------------------------------------------------------------------------------- time budget
def packaging_reserve(generator, samples, n_photos: int, overhead: float = 120.0, factor: float = 1.5) -> float:
    """Seconds to keep for the package stage: the measured generator time per image x photos x ``factor``, plus
    ``overhead`` (a kernel start, loading the model, checking the zip, the reports)."""
    generator(samples, training=False)  # warm up
    t0 = time.perf_counter()
    generator(samples, training=False)
    per_image = (time.perf_counter() - t0) / max(1, len(samples))
    return overhead + factor * per_image * n_photos


def _budget_note(epochs_done: int, steps_done: int, epoch: int, deadline: float, reserve: float) -> str:
    return (f"stopped early by the time budget after {epochs_done} full epoch(s) and {steps_done} step(s) of epoch "
            f"{epoch}: {max(0.0, deadline - time.time()) / 60:.1f} min were left and writing images.zip needs about "
            f"{reserve / 60:.1f} min")


# ---------------------------------------------------------------------------------------- checkpoints
def save_checkpoint(m: CycleGAN, folder: str | Path, meta: dict) -> Path:
    """Write weights, optimizer state and ``checkpoint.json`` (meta + model args) atomically to ``folder``."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, model in m.models.items():
        model.save_weights(str(tmp / f"{name}.weights.h5"))
    np.savez(tmp / "optimizers.npz", **{f"{name}/{i}": np.asarray(v.numpy())
                                        for name, opt in m.optimizers.items() for i, v in enumerate(opt.variables)})
    (tmp / "checkpoint.json").write_text(json.dumps({**meta, "model_args": m.args}, indent=1))
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder


def load_checkpoint(folder: str | Path, learning_rate: float, beta_1: float = 0.5, strategy=None,
                    loss_scale: bool = False) -> tuple[CycleGAN, dict]:
    """Rebuild the models from a checkpoint's stored arguments (under any strategy) and restore weights and
    optimizer state."""
    folder = Path(folder)
    meta = json.loads((folder / "checkpoint.json").read_text())
    m = CycleGAN(meta["model_args"], learning_rate, beta_1, strategy, loss_scale)
    for name, model in m.models.items():
        model.load_weights(str(folder / f"{name}.weights.h5"))
    with np.load(folder / "optimizers.npz") as arrays:
        for name, opt in m.optimizers.items():
            for i, v in enumerate(opt.variables):
                v.assign(arrays[f"{name}/{i}"])
    return m, meta


def latest_checkpoint(root: str | Path) -> Path | None:
    """The complete checkpoint of the highest epoch under ``root`` (partial ones are ignored)."""
    found = sorted(p for p in Path(root).glob("epoch_*") if (p / "checkpoint.json").is_file()
                   and not p.name.endswith(".partial"))
    return found[-1] if found else None


def _prune(root: Path, keep: int) -> None:
    if keep <= 0:
        return
    found = sorted(p for p in root.glob("epoch_*") if not p.name.endswith(".partial"))
    for old in found[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


# -------------------------------------------------------------------------------------- the epoch loop
def _read_history(path: Path, up_to_epoch: int) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        rows = [{k: (int(v) if k in ("epoch", "step", "global_step") else float(v)) for k, v in r.items()}
                for r in csv.DictReader(fh)]
    return [r for r in rows if r["epoch"] <= up_to_epoch]


def _write_history(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".csv.partial")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["epoch", "step", "global_step", *LOSS_KEYS])
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def _training_images(run_dir: Path, cfg: dict) -> tuple[list, list, bool]:
    manifest = data.read_manifest(run_dir)
    if cfg["data_format"] == "jpg":
        return [r["path"] for r in manifest["photo"]], [r["path"] for r in manifest["monet"]], True
    summary = json.loads((run_dir / "data" / "summary.json").read_text())
    files = {d: summary["domains"][d]["tfrecords"] for d in ("photo", "monet")}
    missing = [d for d, f in files.items() if not f]
    if missing:
        raise data.DataError(f"cyclegan.data_format is 'tfrec' but {summary['data_dir']} has no "
                             f"{', '.join(data.TFREC_FOLDERS[d] + '/*.tfrec' for d in missing)}; use data_format: jpg")
    return data.read_tfrecord_images(files["photo"]), data.read_tfrecord_images(files["monet"]), False


def train(run_dir: str | Path, cfg: dict, seed: int = 42, deterministic: bool = False, log=print) -> dict:
    """Train (or resume) the CycleGAN of a run with the ``cyclegan`` params section ``cfg``.

    Resumes from the run's last checkpoint when ``cfg['resume']`` and the checkpoint was made with the same
    training params (``epochs`` may grow); otherwise an existing ``cyclegan/`` folder is kept, renamed with a
    timestamp, and training starts afresh. Returns the summary also written to ``cyclegan/summary.json``.
    """
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    run_dir = Path(run_dir)
    out = run_dir / "cyclegan"
    strategy = distribute.make_strategy(cfg["strategy"])
    policy = distribute.precision_policy(cfg["mixed_precision"], strategy)
    keras.mixed_precision.set_global_policy(policy or "float32")
    if isinstance(strategy, tf.distribute.TPUStrategy) and cfg["data_format"] == "jpg":
        log("On TPU the training data is read from the TFRecords (data_format tfrec).")
        cfg = {**cfg, "data_format": "tfrec"}
    photos, monets, from_files = _training_images(run_dir, cfg)
    replicas = strategy.num_replicas_in_sync
    batch = cfg["batch_size"] * replicas  # the global batch
    steps = cfg["steps_per_epoch"] or math.ceil(len(photos) / batch)
    manifest_hash = fingerprint((run_dir / "data" / "manifest.csv").read_text())
    fp = fingerprint({"cfg": {k: v for k, v in cfg.items() if k not in RESUMABLE_KEYS + ("batch_size", "mixed_precision")},
                      "global_batch": batch, "precision": policy, "seed": seed, "deterministic": deterministic,
                      "data": manifest_hash})

    seed_everything(seed, deterministic)
    last = latest_checkpoint(out / "checkpoints")
    m, start_epoch, resumed_from = None, 0, None
    if last is not None:
        meta = json.loads((last / "checkpoint.json").read_text())
        if cfg["resume"] and meta.get("fingerprint") == fp:
            m, meta = load_checkpoint(last, cfg["learning_rate"], cfg["beta_1"], strategy, policy == "mixed_float16")
            start_epoch, resumed_from = meta["epoch"], str(last)
            log(f"Resuming from {last} (epoch {start_epoch} done).")
        else:
            kept = out.with_name(f"cyclegan.{time.strftime('%Y%m%d-%H%M%S')}")
            why = "resume is off" if not cfg["resume"] else "its training params or data differ"
            log(f"Existing checkpoints in {out} are not resumed ({why}); moved to {kept}.")
            out.rename(kept)
    if m is None:
        m = CycleGAN(model_args(cfg), cfg["learning_rate"], cfg["beta_1"], strategy, policy == "mixed_float16")
    out.mkdir(parents=True, exist_ok=True)
    log(f"Strategy: {distribute.describe(strategy)}; global batch {batch}; precision {policy or 'float32'}")
    log(f"Discriminator receptive field: {m.receptive_field}x{m.receptive_field} px; "
        f"generator parameters: {m.gen_g.count_params():,}; devices: "
        f"{[d.device_type for d in tf.config.list_logical_devices()]}")
    log(f"{len(photos):,} photos, {len(monets):,} paintings; {steps} steps of batch {batch} per epoch; "
        f"epochs {start_epoch + 1}..{cfg['epochs']}")

    step_fn = make_train_step(m, cfg["adversarial_loss"], cfg["lambda_cycle"], cfg["lambda_identity"],
                              cfg["jit_compile"])
    history = _read_history(out / "history.csv", start_epoch)
    sample_paths = sorted(photos if from_files else [])[:cfg["sample_images"]]
    samples = (next(iter(data.photo_batches(sample_paths, len(sample_paths)))) if from_files
               else tf.stack([data.decode_image(b) for b in photos[:cfg["sample_images"]]]))
    deadline = runs.deadline(run_dir)
    reserve = packaging_reserve(m.gen_g, samples, len(photos)) if deadline else None
    if deadline:
        log(f"Time budget: {(deadline - time.time()) / 60:.1f} min left; packaging {len(photos):,} photos needs "
            f"about {reserve / 60:.1f} min of it.")
    t_start, train_seconds, last_epoch_seconds, stopped_early = time.time(), 0.0, 0.0, None
    completed = start_epoch
    for epoch in range(start_epoch, cfg["epochs"]):
        if deadline and time.time() + last_epoch_seconds + reserve > deadline:
            stopped_early = _budget_note(epoch - start_epoch, 0, epoch + 1, deadline, reserve)
            break
        ds = data.paired_epoch(photos, monets, from_files, epoch, steps, batch, seed, cfg["flip"], cfg["random_crop"])
        if replicas > 1:
            ds = strategy.experimental_distribute_dataset(ds)
        t_epoch = time.time()
        bar = tqdm(ds, total=steps, desc=f"epoch {epoch + 1}/{cfg['epochs']}", file=sys.stdout, mininterval=10,
                   ascii=True)
        for step, (real_x, real_y) in enumerate(bar):
            if deadline and time.time() + reserve > deadline:
                stopped_early = _budget_note(epoch - start_epoch, step, epoch + 1, deadline, reserve)
                break
            values = {k: float(v) for k, v in step_fn(real_x, real_y).items()}
            history.append({"epoch": epoch + 1, "step": step + 1, "global_step": epoch * steps + step + 1, **values})
            if step % 25 == 0:
                bar.set_postfix(g=f"{values['gen_g_loss']:.3f}", dy=f"{values['disc_y_loss']:.3f}")
        bar.close()
        last_epoch_seconds = time.time() - t_epoch
        train_seconds += last_epoch_seconds
        if stopped_early:  # a partial epoch: its weights go into generator.keras, not into a checkpoint
            if history:
                _write_history(out / "history.csv", history)
                plots.loss_curves(history, LOSS_KEYS[:4] + ["cycle_loss"], out / "losses.png")
            break
        epoch_rows = [h for h in history if h["epoch"] == epoch + 1]
        means = {k: float(np.mean([h[k] for h in epoch_rows])) for k in LOSS_KEYS}
        log(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v:.4f}" for k, v in means.items())
            + f" ({time.time() - t_epoch:.1f} s)")
        _write_history(out / "history.csv", history)
        plots.loss_curves(history, LOSS_KEYS[:4] + ["cycle_loss"], out / "losses.png")
        fakes = plots.to_uint8(m.gen_g(samples, training=False))
        plots.image_grid([list(plots.to_uint8(samples)), list(fakes)], out / "samples" / f"epoch_{epoch + 1:02d}.png",
                         row_titles=["photo X", "G(X)"], title=f"epoch {epoch + 1}")
        save_checkpoint(m, out / "checkpoints" / f"epoch_{epoch + 1:04d}",
                        {"epoch": epoch + 1, "fingerprint": fp, "steps_per_epoch": steps, "batch_size": batch,
                         "losses": means})
        _prune(out / "checkpoints", cfg["keep_checkpoints"])
        completed = epoch + 1

    if stopped_early:
        log("STOPPED EARLY: " + stopped_early)
    m.gen_g.save(str(out / "generator.keras"))
    (out / "generator.json").write_text(json.dumps({"factory": "monet.networks.resnet_generator",
                                                    "args": m.args["generator"]}, indent=1))
    trained_steps = sum(1 for h in history if h["epoch"] > start_epoch)
    summary = {
        "epochs": cfg["epochs"], "epochs_completed": completed,
        "epochs_trained_now": trained_steps / steps, "resumed_from": resumed_from, "stopped_early": stopped_early,
        "steps_per_epoch": steps, "batch_size": cfg["batch_size"], "global_batch_size": batch,
        "strategy": distribute.describe(strategy), "replicas": replicas, "mixed_precision": policy or "off",
        "photos": len(photos), "paintings": len(monets),
        "receptive_field": m.receptive_field, "generator_parameters": m.gen_g.count_params(),
        "train_seconds": round(train_seconds, 2), "seconds": round(time.time() - t_start, 2),
        "images_per_second": round(trained_steps * batch / train_seconds, 3) if train_seconds else None,
        "final_losses": {k: history[-1][k] for k in LOSS_KEYS} if history else None,
        "generator": str(out / "generator.keras"), "model_args": m.args,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
