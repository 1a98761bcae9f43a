"""Every figure, written to PNG files so notebooks only call and display."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["image_grid", "loss_curves", "loss_traces", "checkpoint_scores", "save_figure", "to_uint8"]


def to_uint8(images) -> np.ndarray:
    """Float images in [-1, 1] (any array-like) -> uint8 in [0, 255]."""
    arr = np.asarray(images, dtype=np.float32)
    return np.clip(np.rint((arr + 1.0) * 127.5), 0, 255).astype(np.uint8)


def save_figure(fig, path: Path) -> Path:
    """Lay out, save as PNG and close a matplotlib figure; returns the path."""
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def image_grid(rows: list[list[np.ndarray]], path: str | Path, row_titles: list[str] | None = None,
               col_titles: list[str] | None = None, title: str | None = None) -> Path:
    """Save a grid of uint8 HxWx3 images (``rows[r][c]``) as a PNG; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.2 * n_cols, 2.2 * n_rows + (0.4 if title else 0)),
                             squeeze=False)
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(rows[r]):
                ax.imshow(rows[r][c])
            if col_titles and r == 0 and c < len(col_titles):
                ax.set_title(col_titles[c], fontsize=8)
        if row_titles:
            axes[r][0].text(-0.05, 0.5, row_titles[r], transform=axes[r][0].transAxes, rotation=90,
                            ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def loss_curves(history: list[dict], keys: list[str], path: str | Path, title: str = "Training losses") -> Path:
    """Per-step losses (light) with per-epoch means (bold) for each key, one panel per key, epoch ticks."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8), squeeze=False)
    steps = np.array([h["global_step"] for h in history])
    epochs = np.array([h["epoch"] for h in history])
    for ax, key in zip(axes[0], keys):
        values = np.array([h[key] for h in history], dtype=float)
        ax.plot(steps, values, lw=0.6, alpha=0.4)
        for e in np.unique(epochs):
            sel = epochs == e
            ax.plot([steps[sel].min(), steps[sel].max()], [values[sel].mean()] * 2, lw=2, color="C3")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step")
    fig.suptitle(title + " (bold: epoch mean)", fontsize=10)
    return save_figure(fig, path)


def loss_traces(traces: dict[str, list[float]], path: str | Path, title: str = "Loss per iteration") -> Path:
    """One line per image of its loss at every iteration (log scale), as in the report's NST graph."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, values in traces.items():
        ax.plot(np.arange(1, len(values) + 1), values, lw=1, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("total loss")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def checkpoint_scores(rows: list[dict], chosen: str, path: str | Path, network: str) -> Path:
    """Local MiFID of each scored checkpoint by training step, the packaged one marked; the network named."""
    import textwrap

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    steps = [r["global_step"] for r in rows]
    ax.plot(steps, [r["mifid"] for r in rows], marker="o", lw=1)
    best = next(r for r in rows if r["checkpoint"] == chosen)
    ax.plot([best["global_step"]], [best["mifid"]], marker="*", ms=14, color="C3", label=f"packaged: {chosen}")
    ax.set_xlabel("training step")
    ax.set_ylabel("local MiFID")
    ax.legend(fontsize=7)
    ax.set_title("\n".join(textwrap.wrap(f"Checkpoints by local score ({network})", 70)), fontsize=8)
    return save_figure(fig, path)
