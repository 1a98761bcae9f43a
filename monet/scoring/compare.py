"""Runs side by side: which params differ, how long they trained, how many images, FID/MiFID where scored.

    python -m monet compare                       # every run folder under outputs/
    python -m monet compare outputs/exp1 outputs/best --out outputs/_compare

Writes ``compare.md`` and ``compare.html`` (the table), ``losses.png`` (training losses of every CycleGAN run on
shared axes, by epoch) and ``strip.png`` (the same photos as each run submitted them).
"""
from __future__ import annotations

import csv
import html
import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["load_run", "flatten", "relevant_params", "differing", "status", "table", "judged", "compare"]


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


# Which params section belongs to which stage: a run's section counts only where that stage ran.
SECTION_STAGE = {"fetch": "fetch", "cyclegan": "cyclegan_train", "nst": "nst_generate", "package": "package_submission",
                 "evaluate": "evaluate"}
RAN = ("done", "stopped_early", "failed", "interrupted", "killed", "running")


def ran(run: dict, stage: str) -> bool:
    """Whether ``stage`` ran (or started) in this run."""
    return run["record"].get("stages", {}).get(stage, {}).get("status") in RAN


def relevant_params(run: dict) -> dict:
    """The run's params, flattened, without the sections of stages that never ran in it (and without
    ``description`` and ``stages``, which the table shows otherwise)."""
    flat = flatten(run["record"].get("params", {}))
    out = {}
    for key, value in flat.items():
        section = key.split(".", 1)[0] if "." in key else None
        if key in ("description", "stages") or (section in SECTION_STAGE and not ran(run, SECTION_STAGE[section])):
            continue
        out[key] = value
    return out


def differing(runs: list[dict]) -> list[str]:
    """The params keys whose values differ among the runs whose stage used them (a key that only one run used, or
    that all the runs using it set alike, is left out)."""
    flat = [relevant_params(r) for r in runs]
    keys = sorted(set().union(*flat))
    return [k for k in keys if len({json.dumps(f[k], sort_keys=True) for f in flat if k in f}) > 1]


def _method(run: dict) -> str:
    params = run["record"].get("params", {})
    if "package_submission" in params.get("stages", []):
        return params.get("package", {}).get("source", "cyclegan")
    return "nst" if "nst_generate" in params.get("stages", []) else "cyclegan"


def _param(value) -> str:
    """A param value as it would be written in a params file."""
    return json.dumps(value) if isinstance(value, (list, dict)) else ("null" if value is None else str(value))


def status(run: dict) -> str:
    """The run's status, naming the stage that failed, was interrupted or stopped early."""
    record = run["record"]
    state = record.get("status", "unknown")
    which = [name for name, s in record.get("stages", {}).items() if s.get("status") not in ("done", None)]
    return f"{state.replace('_', ' ')} ({', '.join(which)})" if which and state != "done" else state.replace("_", " ")


NOT_RUN = "–"  # the stage that uses this param did not run in this run


def table(runs: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The comparison with runs as columns: header (``""`` then the run names) and rows, each a label then one
    cell per run: status, method, the params that differ, then results."""
    fmt = lambda v: "" if v is None else (f"{v:,.2f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int)  # noqa: E731
                                          else str(v))
    rows = [["status", *[status(r) for r in runs]], ["method", *[_method(r) for r in runs]],
            ["stages run", *[", ".join(n for n in r["record"].get("stages", {}) if ran(r, n)) for r in runs]]]
    flats = [relevant_params(r) for r in runs]
    rows += [[k, *[_param(f[k]) if k in f else NOT_RUN for f in flats]] for k in differing(runs)]
    for label, get in (
            ("epochs trained", lambda r: fmt(r["train"].get("epochs_completed")) if r["train"] else NOT_RUN),
            ("packaged checkpoint", lambda r: (r["train"].get("chosen_checkpoint") or "last") if r["train"] else NOT_RUN),
            ("training s", lambda r: fmt(r["record"].get("stages", {}).get(
                "nst_generate" if _method(r) == "nst" else "cyclegan_train", {}).get("seconds"))),
            ("total s", lambda r: fmt(round(sum(s.get("seconds", 0.0) for s in r["record"].get("stages", {}).values()),
                                            2))),
            ("images", lambda r: fmt(r["package"].get("count")) if r["package"] else NOT_RUN),
            ("scoring network", lambda r: _network(r)),
            ("FID", lambda r: _metric(r, "fid")), ("MiFID", lambda r: _metric(r, "mifid")),
            ("KID (same network)", lambda r: _kid(r)),
            ("C2ST accuracy (judge)", lambda r: judged(r, "c2st_accuracy")), ("KID (judge)", lambda r: judged(r, "kid"))):
        rows.append([label, *[get(r) for r in runs]])
    return ["", *[r["name"] for r in runs]], rows


def _metric(run: dict, key: str) -> str:
    m = run["metrics"]
    if not m:
        return NOT_RUN
    if m.get(key) is None:
        return "not computed"
    return f"{m.get(key):,.2f}" + ("" if m.get("comparable_to_kaggle") else " *")


def _network(run: dict) -> str:
    kind = (run["metrics"] or {}).get("network_kind")
    return {"kaggle": "Kaggle's", "keras": "Keras InceptionV3 *", "random": "random *"}.get(kind, NOT_RUN)


def _kid(run: dict) -> str:
    k = (run["metrics"] or {}).get("kid_inception")
    if not k:
        return NOT_RUN if not run["metrics"] else "not computed"
    return f"{k['kid']:.4f} +- {k['kid_std']:.4f}" + ("" if run["metrics"].get("comparable_to_kaggle") else " *")


def judged(run: dict, key: str) -> str:
    """The judge's figure ``key`` (C2ST accuracy with its 95% interval, or KID on random features), or a dash."""
    j = run["metrics"].get("judge") if run["metrics"] else None
    if not j or key not in j:
        return "skipped" if j else NOT_RUN
    if key == "c2st_accuracy":
        return f"{j[key]:.3f} ({j['c2st_ci95'][0]:.2f}-{j['c2st_ci95'][1]:.2f})"
    return f"{j[key]:.4f} +- {j['kid_std']:.4f}"


def _markdown(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _loss_figure(runs: list[dict], path: Path) -> Path | None:
    from monet.core.plots import loss_comparison

    curves = []
    for r in runs:
        history = r["dir"] / "cyclegan" / "history.csv"
        if history.is_file():
            with open(history, newline="") as fh:
                rows = list(csv.DictReader(fh))
            if rows:
                curves.append((r["name"], rows, max(1, r["train"].get("steps_per_epoch", 1))))
    return loss_comparison(curves, ["gen_g_loss", "disc_y_loss", "cycle_loss"], path) if curves else None


def _submitted_names(run: dict) -> set[str]:
    """The photo names this run has a submitted (or painted) image of."""
    names: set[str] = set()
    for source in (run["dir"] / "images.zip", run["dir"] / "submission" / "images.rejected.zip"):
        if source.is_file():
            with zipfile.ZipFile(source) as zf:
                names |= {n[:-4] for n in zf.namelist() if n.endswith(".jpg")}
    nst = run["dir"] / "nst" / "images"
    if nst.is_dir():
        names |= {p.stem for p in nst.glob("*.jpg")}
    return names


def _submitted(run: dict, name: str) -> np.ndarray | None:
    for source in (run["dir"] / "images.zip", run["dir"] / "submission" / "images.rejected.zip"):
        if source.is_file():
            with zipfile.ZipFile(source) as zf:
                if f"{name}.jpg" in zf.namelist():
                    return np.asarray(Image.open(io.BytesIO(zf.read(f"{name}.jpg"))).convert("RGB"))
    nst = run["dir"] / "nst" / "images" / f"{name}.jpg"
    return np.asarray(Image.open(nst).convert("RGB")) if nst.is_file() else None


def _strip(runs: list[dict], path: Path, photos: int) -> Path | None:
    """The same photos as each run submitted them: photos that every run with images translated; a run without
    them (it failed, or ran on other data) says so in its row title instead of showing grey squares alone."""
    from monet.core import plots
    from monet.data import fetch, images

    names = {r["name"]: _submitted_names(r) for r in runs}
    candidates = []
    for r in runs:  # the photos of the first run that has a manifest
        try:
            candidates = fetch.read_manifest(r["dir"])["photo"]
            break
        except (images.DataError, FileNotFoundError, OSError):
            continue
    if not candidates:
        return None
    with_images = [n for n in names.values() if n]
    chosen = [p for p in candidates if all(p["name"] in n for n in with_images)][:photos] or candidates[:photos]
    blank = np.full((256, 256, 3), 235, np.uint8)
    rows, titles = [[np.asarray(Image.open(p["path"]).convert("RGB")) for p in chosen]], ["photo"]
    for r in runs:
        have = names[r["name"]]
        rows.append([img if (img := _submitted(r, p["name"])) is not None else blank for p in chosen])
        why = ("" if all(p["name"] in have for p in chosen) else
               f" (no images: {status(r)})" if not have else " (blank: it did not translate these photos)")
        titles.append(r["name"] + why)
    return plots.image_grid(rows, path, row_titles=titles, title="The same photos as each run submitted them")


def compare(run_dirs: list[str | Path], out_dir: str | Path, photos: int = 4) -> dict:
    """Write the comparison of ``run_dirs`` into ``out_dir``; returns {header, rows, files}."""
    runs = [load_run(d) for d in run_dirs]
    if not runs:
        raise ValueError("no run folders to compare")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header, rows = table(runs)
    note = ("\n\n\\* not scored with Kaggle's network (random or Keras InceptionV3 weights): not comparable to "
            "Kaggle's figures."
            if any(r["metrics"] and not r["metrics"].get("comparable_to_kaggle") for r in runs) else "")
    losses = _loss_figure(runs, out_dir / "losses.png")
    strip = _strip(runs, out_dir / "strip.png", photos)
    legend = (f"\n\nOne column a run. Params: only those that differ among the runs whose stage used them; "
              f"{NOT_RUN} where that stage did not run. Judge: C2ST accuracy of a CNN trained from scratch to tell "
              "the images from the real paintings (0.5: it cannot; 95% interval), KID on random CNN features; both "
              "need no downloaded weights and are not on Kaggle's scale.")
    md = f"# Runs compared\n\n{_markdown(header, rows)}{legend}{note}\n"
    md += "".join(f"\n![{p.stem}]({p.name})\n" for p in (losses, strip) if p)
    (out_dir / "compare.md").write_text(md)
    cells = lambda tag, row: "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in row)  # noqa: E731
    body = (f"<h1>Runs compared</h1><table border=1 cellpadding=4><tr>{cells('th', header)}</tr>"
            + "".join(f"<tr>{cells('td', row)}</tr>" for row in rows) + "</table>"
            + (f"<p>{html.escape(note.strip())}</p>" if note else "")
            + "".join(f'<p><img src="{p.name}" alt="{p.stem}"></p>' for p in (losses, strip) if p))
    (out_dir / "compare.html").write_text(f"<!doctype html><html><body>{body}</body></html>")
    return {"header": header, "rows": rows, "markdown": _markdown(header, rows),
            "files": [str(out_dir / n) for n in ("compare.md", "compare.html")]}
