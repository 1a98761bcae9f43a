"""Every figure, written to PNG files so notebooks only call and display.

Titles and labels are wrapped to the width (or, turned on their side, the height) they have, so a long run name or
warning stays inside the picture; :func:`overflowing_texts` finds any that still do not fit (the tests use it).
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.text  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["image_grid", "loss_curves", "loss_traces", "loss_comparison", "checkpoint_scores", "save_figure",
           "to_uint8", "fit", "overflowing_texts"]

CHAR_WIDTH = 0.62  # a character's average width in DejaVu Sans, in ems (a little generous)


def fit(text: str, inches: float, fontsize: float) -> str:
    """``text`` wrapped into lines that fit ``inches`` at ``fontsize`` points (existing line breaks kept)."""
    per_line = max(8, int(inches * 72 / (fontsize * CHAR_WIDTH)))
    return "\n".join(textwrap.fill(part, per_line) or part for part in str(text).split("\n"))


def overflowing_texts(fig) -> list[str]:
    """The titles, labels and texts of ``fig`` that reach outside it (tick numbers aside: matplotlib keeps some
    beyond the axes' limits that it never draws)."""
    fig.canvas.draw()
    renderer, box = fig.canvas.get_renderer(), fig.bbox
    ticks = {id(t.label1) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
             for t in axis.get_major_ticks() + axis.get_minor_ticks()}
    ticks |= {id(t.label2) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
              for t in axis.get_major_ticks() + axis.get_minor_ticks()}
    out = []
    for text in fig.findobj(matplotlib.text.Text):
        if id(text) in ticks or not text.get_visible() or not text.get_text():
            continue
        ext = text.get_window_extent(renderer)
        if ext.x0 < box.x0 - 1 or ext.x1 > box.x1 + 1 or ext.y0 < box.y0 - 1 or ext.y1 > box.y1 + 1:
            out.append(text.get_text())
    return out


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
    cell = 2.2
    width = cell * n_cols
    title = fit(title, width - 0.2, 10) if title else None
    title_height = 0.22 * (title.count("\n") + 1) + 0.2 if title else 0
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width, cell * n_rows + title_height), squeeze=False)
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(rows[r]):
                ax.imshow(rows[r][c])
            if col_titles and r == 0 and c < len(col_titles):
                ax.set_title(fit(col_titles[c], cell - 0.1, 8), fontsize=8)
        if row_titles:  # on its side, beside the row: it has the row's height
            axes[r][0].text(-0.05, 0.5, fit(row_titles[r], cell - 0.2, 9), transform=axes[r][0].transAxes,
                            rotation=90, ha="right", va="center", fontsize=9)
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
    fig.suptitle(fit(title + " (bold: epoch mean)", 3.2 * len(keys) - 0.2, 10), fontsize=10)
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
    if len(traces) <= 12:
        ax.legend([textwrap.shorten(n, 30) for n in traces], fontsize=7)
    ax.set_title(fit(title, 5.8, 9), fontsize=9)
    return save_figure(fig, path)


def checkpoint_scores(rows: list[dict], chosen: str, path: str | Path, network: str, key: str = "mifid") -> Path:
    """The figure ``key`` (local MiFID, or the judge's kid / c2st_accuracy) of each scored checkpoint by training
    step, the packaged one marked; the network named."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    steps = [r["global_step"] for r in rows]
    ax.plot(steps, [r[key] for r in rows], marker="o", lw=1)
    best = next(r for r in rows if r["checkpoint"] == chosen)
    ax.plot([best["global_step"]], [best[key]], marker="*", ms=14, color="C3",
            label=f"packaged: {textwrap.shorten(chosen, 40, placeholder='…')}")
    ax.set_xlabel("training step")
    ax.set_ylabel({"mifid": "local MiFID", "kid": "KID (random CNN features)",
                   "c2st_accuracy": "C2ST accuracy"}.get(key, key))
    ax.legend(fontsize=7)
    ax.set_title(fit(f"Checkpoints by local score ({network})", 5.8, 8), fontsize=8)
    return save_figure(fig, path)


def loss_comparison(curves: list[tuple[str, list[dict], int]], keys: list[str], path: str | Path) -> Path:
    """Several runs' training losses on shared axes by epoch (moving averages): ``curves`` holds (run name,
    history rows, steps per epoch). A run without a key's column (a CUT has no cycle_loss) leaves that panel."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, rows, steps in curves:
            rows = [row for row in rows if row.get(key) not in (None, "")]
            if not rows:
                continue
            x = np.array([int(row["global_step"]) for row in rows]) / steps
            y = np.array([float(row[key]) for row in rows])
            window = max(1, min(25, len(y) // 10))
            smooth = np.convolve(y, np.ones(window) / window, mode="valid")
            ax.plot(x[window - 1:], smooth, lw=1.2, label=textwrap.shorten(name, 24, placeholder="…"))
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch")
    if axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(fontsize=7)
    fig.suptitle("Training losses (moving average)", fontsize=10)
    return save_figure(fig, path)
