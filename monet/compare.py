"""Runs side by side: which params differ, how long they trained, how many images, FID/MiFID where scored.

    python -m monet.compare                       # every run folder under outputs/
    python -m monet.compare outputs/exp1 outputs/best --out outputs/_compare

Writes ``compare.md`` and ``compare.html`` (the table), ``losses.png`` (training losses of every CycleGAN run on
shared axes, by epoch) and ``strip.png`` (the same photos as each run submitted them).
"""
from __future__ import annotations

import argparse
import csv
import html
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["load_run", "flatten", "differing", "table_rows", "compare"]


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def load_run(run_dir: str | Path) -> dict:
    """What a comparison needs from a run folder (run.json and the stages' summaries)."""
    run_dir = Path(run_dir)
    record = _json(run_dir / "run.json")
    if not record:
        raise FileNotFoundError(f"{run_dir}: no run.json (not a run folder)")
    return {"dir": run_dir, "name": run_dir.name, "record": record, "train": _json(run_dir / "cyclegan" / "summary.json"),
            "nst": _json(run_dir / "nst" / "summary.json"), "package": _json(run_dir / "submission" / "summary.json"),
            "metrics": _json(run_dir / "metrics.json")}


def flatten(params: dict, prefix: str = "") -> dict:
    """{'cyclegan': {'epochs': 3}} -> {'cyclegan.epochs': 3}."""
    out = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def differing(runs: list[dict]) -> list[str]:
    """The params keys whose values are not the same in every run (the description aside)."""
    flat = [flatten(r["record"].get("params", {})) for r in runs]
    keys = sorted(set().union(*flat) - {"description"})
    return [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]


def _method(run: dict) -> str:
    params = run["record"].get("params", {})
    if "package_submission" in params.get("stages", []):
        return params.get("package", {}).get("source", "cyclegan")
    return "nst" if "nst_generate" in params.get("stages", []) else "cyclegan"


def _param(value) -> str:
    """A param value as it would be written in a params file."""
    return json.dumps(value) if isinstance(value, (list, dict)) else ("null" if value is None else str(value))


def table_rows(runs: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comparison table (strings)."""
    keys = differing(runs)
    header = ["run", "method", *keys, "epochs trained", "packaged checkpoint", "training s", "total s", "images",
              "FID", "MiFID"]
    rows = []
    for r in runs:
        flat = flatten(r["record"].get("params", {}))
        stages = r["record"].get("stages", {})
        train_stage = "nst_generate" if _method(r) == "nst" else "cyclegan_train"
        fmt = lambda v: "" if v is None else (f"{v:,.2f}" if isinstance(v, float) else str(v))  # noqa: E731
        metrics = r["metrics"]
        rows.append([
            r["name"], _method(r), *[_param(flat.get(k)) for k in keys],
            fmt(r["train"].get("epochs_completed")) if r["train"] else "",
            (r["train"].get("chosen_checkpoint") or "last") if r["train"] else "",
            fmt(stages.get(train_stage, {}).get("seconds")),
            fmt(round(sum(s.get("seconds", 0.0) for s in stages.values()), 2)),
            fmt(r["package"].get("count")),
            fmt(metrics.get("fid")) + ("" if not metrics or metrics.get("comparable_to_kaggle") else " *"),
            fmt(metrics.get("mifid")) + ("" if not metrics or metrics.get("comparable_to_kaggle") else " *"),
        ])
    return header, rows


def _markdown(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _loss_figure(runs: list[dict], path: Path) -> Path | None:
    import matplotlib.pyplot as plt

    from .plots import save_figure

    curves = []
    for r in runs:
        history = r["dir"] / "cyclegan" / "history.csv"
        if history.is_file():
            with open(history, newline="") as fh:
                rows = list(csv.DictReader(fh))
            if rows:
                curves.append((r["name"], rows, max(1, r["train"].get("steps_per_epoch", 1))))
    if not curves:
        return None
    keys = ["gen_g_loss", "disc_y_loss", "cycle_loss"]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, rows, steps in curves:
            x = np.array([int(row["global_step"]) for row in rows]) / steps
            y = np.array([float(row[key]) for row in rows])
            window = max(1, min(25, len(y) // 10))
            smooth = np.convolve(y, np.ones(window) / window, mode="valid")
            ax.plot(x[window - 1:], smooth, lw=1.2, label=name)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Training losses (moving average)", fontsize=10)
    return save_figure(fig, path)


def _submitted(run: dict, name: str) -> np.ndarray | None:
    for source in (run["dir"] / "images.zip", run["dir"] / "submission" / "images.rejected.zip"):
        if source.is_file():
            with zipfile.ZipFile(source) as zf:
                if f"{name}.jpg" in zf.namelist():
                    return np.asarray(Image.open(io.BytesIO(zf.read(f"{name}.jpg"))).convert("RGB"))
    nst = run["dir"] / "nst" / "images" / f"{name}.jpg"
    return np.asarray(Image.open(nst).convert("RGB")) if nst.is_file() else None


def _strip(runs: list[dict], path: Path, photos: int) -> Path | None:
    from . import data, plots

    try:
        chosen = data.read_manifest(runs[0]["dir"])["photo"][:photos]
    except data.DataError:
        return None
    blank = np.full((256, 256, 3), 200, np.uint8)
    rows = [[np.asarray(Image.open(p["path"]).convert("RGB")) for p in chosen]]
    for r in runs:
        rows.append([img if (img := _submitted(r, p["name"])) is not None else blank for p in chosen])
    return plots.image_grid(rows, path, row_titles=["photo"] + [r["name"] for r in runs],
                            title="The same photos as each run submitted them")


def compare(run_dirs: list[str | Path], out_dir: str | Path, photos: int = 4) -> dict:
    """Write the comparison of ``run_dirs`` into ``out_dir``; returns {header, rows, files}."""
    runs = [load_run(d) for d in run_dirs]
    if not runs:
        raise ValueError("no run folders to compare")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header, rows = table_rows(runs)
    note = ("\n\n\\* not scored with Kaggle's network (random or Keras InceptionV3 weights): not comparable to "
            "Kaggle's figures."
            if any(r["metrics"] and not r["metrics"].get("comparable_to_kaggle") for r in runs) else "")
    losses = _loss_figure(runs, out_dir / "losses.png")
    strip = _strip(runs, out_dir / "strip.png", photos)
    md = f"# Runs compared\n\n{_markdown(header, rows)}{note}\n"
    md += "".join(f"\n![{p.stem}]({p.name})\n" for p in (losses, strip) if p)
    (out_dir / "compare.md").write_text(md)
    cells = lambda tag, row: "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in row)  # noqa: E731
    body = (f"<h1>Runs compared</h1><table border=1 cellpadding=4><tr>{cells('th', header)}</tr>"
            + "".join(f"<tr>{cells('td', row)}</tr>" for row in rows) + "</table>"
            + (f"<p>{html.escape(note.strip())}</p>" if note else "")
            + "".join(f'<p><img src="{p.name}" alt="{p.stem}"></p>' for p in (losses, strip) if p))
    (out_dir / "compare.html").write_text(f"<!doctype html><html><body>{body}</body></html>")
    return {"header": header, "rows": rows, "files": [str(out_dir / n) for n in ("compare.md", "compare.html")]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m monet.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", help="run folders (default: every run folder under --outputs)")
    ap.add_argument("--outputs", default="outputs", help="where to look for run folders")
    ap.add_argument("--out", default=None, help="where to write (default: <outputs>/_compare)")
    ap.add_argument("--photos", type=int, default=4, help="photos in the strip")
    args = ap.parse_args(argv)
    dirs = [Path(r) for r in args.runs] or sorted(p.parent for p in Path(args.outputs).glob("*/run.json"))
    try:
        result = compare(dirs, Path(args.out) if args.out else Path(args.outputs) / "_compare", args.photos)
    except Exception as exc:  # noqa: BLE001
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(_markdown(result["header"], result["rows"]))
    print("\n".join(result["files"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
