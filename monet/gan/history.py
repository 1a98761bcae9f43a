"""A training session's record: ``cyclegan/history.csv`` (the losses and the learning rate of every step), the
loss curves and each epoch's sample grid."""
from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from monet.core import files, plots
from monet.data import tfdata
from monet.gan.cyclegan import LOSS_KEYS, CycleGAN, packaged_generator
from monet.gan.session import Run

__all__ = ["read_history", "write_history", "sample_photos", "end_of_epoch"]


def read_history(path: Path, up_to_step: int) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        rows = [{k: (int(v) if k in ("epoch", "step", "global_step") else float(v)) for k, v in r.items() if v != ""}
                for r in csv.DictReader(fh)]
    return [r for r in rows if r["global_step"] <= up_to_step]


def write_history(path: Path, rows: list[dict], loss_keys=LOSS_KEYS) -> None:
    """The rows with the columns epoch, step, global_step, ``loss_keys`` (the model's ``loss_keys``) and lr."""
    files.write_csv(path, rows, ["epoch", "step", "global_step", *loss_keys, "lr"])


def sample_photos(run: Run):
    """The photos every epoch's sample grid shows."""
    import tensorflow as tf

    n = run.cfg["sample_images"]
    if run.from_files:
        paths = sorted(run.photos)[:n]
        return next(iter(tfdata.photo_batches(paths, len(paths))))
    return tf.stack([tfdata.decode_image(b) for b in run.photos[:n]])


def end_of_epoch(m: CycleGAN, out: Path, history: list[dict], samples, global_step: int, steps: int, t_epoch,
                  log) -> None:
    """History, loss curves, a sample grid and a log line after each epoch (or the planned end)."""
    epoch = -(-global_step // steps)
    rows = [h for h in history if h["epoch"] == epoch]
    if rows:
        means = {k: float(np.mean([h[k] for h in rows])) for k in m.loss_keys}
        log(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in means.items())
            + f", lr {rows[-1].get('lr', float('nan')):.3g} ({time.time() - t_epoch:.1f} s)")
    write_history(out / "history.csv", history, m.loss_keys)
    plots.loss_curves(history, m.loss_keys[:5], out / "losses.png")  # CycleGAN: the four models' and the cycle
    fakes = plots.to_uint8(packaged_generator(m)(samples, training=False))
    plots.image_grid([list(plots.to_uint8(samples)), list(fakes)], out / "samples" / f"epoch_{epoch:02d}.png",
                     row_titles=["photo X", "G(X)"], title=f"epoch {epoch}")
