"""The run folder and its ``run.json``: resolved params, git commit, versions, per-stage status and seconds."""
from __future__ import annotations

import json
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

from monet.core import files

__all__ = ["read_run_json", "package_params", "write_run_json", "git_info", "versions", "notebook_to_html",
           "stage_files"]

_PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "numpy", "pillow", "papermill", "nbconvert", "ipykernel",
             "pyyaml")


def read_run_json(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def package_params(run_dir: str | Path) -> dict:
    """run.json's ``package`` section as training reads it (what its scoring and its time budget follow): the
    schema's ``jpeg_quality`` when it is missing, and a bool-era ``colour_match`` (true) read as ``mean_sd``."""
    from monet.core.schema import SECTIONS

    pkg = dict((read_run_json(run_dir).get("params") or {}).get("package") or {})
    pkg.setdefault("jpeg_quality", SECTIONS["package"]["jpeg_quality"].default)
    pkg["colour_match"] = "mean_sd" if pkg.get("colour_match") is True else pkg.get("colour_match") or "off"
    return pkg


def write_run_json(run_dir: str | Path, record: dict) -> None:
    """Write ``run.json`` atomically (a reader never sees half a file)."""
    record["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    files.write_json(Path(run_dir) / "run.json", record)


def git_info(repo: str | Path) -> dict:
    """{commit, dirty} of the repository at ``repo``; outside git, the commit a Kaggle bundle recorded
    (``MONET_SOURCE_COMMIT``, with ``source: bundle``), else {commit: None}."""
    import os

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                                    capture_output=True, text=True, check=True).stdout.strip())
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.CalledProcessError):
        bundled = os.environ.get("MONET_SOURCE_COMMIT")
        if bundled:
            return {"commit": bundled.split(" ")[0], "dirty": "uncommitted" in bundled, "source": "bundle"}
        return {"commit": None, "dirty": None}


def this_process() -> dict:
    """{pid, host} of this process: what ``run.json`` records so a later run can tell whether it still lives."""
    import os

    return {"pid": os.getpid(), "host": platform.node()}


def _alive(process: dict | None) -> bool:
    import os

    if not process or process.get("host") != platform.node():
        return False
    try:
        os.kill(int(process["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return False
    return True


def mark_killed(record: dict) -> list[str]:
    """When ``record`` says a stage is running but the process that ran it is gone, say so (status ``killed``)
    and return the stages; a rerun then goes on from what they had finished."""
    if record.get("status") not in ("running", None) or _alive(record.get("process")):
        return []
    stopped = [name for name, stage in record.get("stages", {}).items() if stage.get("status") == "running"]
    for name in stopped:
        record["stages"][name].update(status="killed", note="its process ended without a word (killed, or the "
                                      "machine stopped)")
    if stopped:
        record["status"] = "killed"
    return stopped


def versions() -> dict:
    """Python and package versions, read from installed metadata (imports nothing heavy)."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def notebook_to_html(notebook: str | Path, html: str | Path) -> Path:
    """Render an executed notebook as HTML without its code cells (the report a reader wants)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    body, _ = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    files.write_text(html, body)
    return Path(html)


def stage_files(run_dir: str | Path, notebook: str) -> tuple[Path, Path]:
    """Where a stage's executed notebook and its HTML rendering go in the run folder."""
    run_dir = Path(run_dir)
    return run_dir / notebook, run_dir / (Path(notebook).stem + ".html")


def summary_markdown(summary: dict, title: str | None = None) -> str:
    """A two-column Markdown table of a stage summary's scalar values (lists and dicts are counted)."""
    rows = [f"### {title}", ""] if title else []
    rows += ["| | |", "|---|---|"]
    for key, value in summary.items():
        if isinstance(value, (list, tuple)):
            value = f"{len(value)} item(s)"
        elif isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items() if not isinstance(v, (list, dict)))
        elif isinstance(value, float):
            value = f"{value:,.4g}"
        elif isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:,}"
        rows.append(f"| {key} | {value} |")
    return "\n".join(rows)


def judged(figures: dict) -> str:
    """The judge's figures for a note: C2ST accuracy with its interval and KID on random features, or nothing."""
    if "c2st_accuracy" not in figures:
        return ""
    lo, hi = figures["c2st_ci95"]
    return f"; judge: C2ST accuracy {figures['c2st_accuracy']:.3f} ({lo:.2f}-{hi:.2f}), KID {figures['kid']:.4f}"


_STAGE_SUMMARIES = {"fetch": "data/summary.json", "cyclegan_train": "cyclegan/summary.json",
                    "nst_generate": "nst/summary.json", "evaluate": "metrics.json"}


def stage_extras(run_dir: str | Path, stage: str) -> dict:
    """What a finished stage's summary adds to its entry in ``run.json``: a ``note`` (the extra paintings fetched,
    an early stop for the time budget, the local score) and, for training, the strategy and precision it ran with,
    its steps against its plan, whether it is undertrained and when it was predicted to end and ended
    (``budget_slack_s``)."""
    path = Path(run_dir) / _STAGE_SUMMARIES.get(stage, "-")
    if not path.is_file():
        return {}
    summary = json.loads(path.read_text())
    if stage == "fetch":  # only fetch.extra_monet has something to add
        extra = summary.get("extra_monet")
        return {"note": f"extra paintings: {extra['added']:,} of {extra['found']:,} added, "
                        f"{extra['duplicates_dropped']:,} duplicates dropped, {extra['unreadable_skipped']:,} "
                        "unreadable skipped"} if extra else {}
    if stage == "evaluate":
        kind = summary.get("network_kind", "keras" if summary.get("comparable_to_kaggle") else "random")
        return {"note": f"FID {summary['fid']:.2f}, MiFID {summary['mifid']:.2f} " + {
            "kaggle": "(Kaggle's network)", "keras": "(Keras InceptionV3: not Kaggle's scale)",
            "random": "(random weights: not comparable)"}[kind] + judged(summary.get("judge") or {})}
    extras = {k: summary[k] for k in ("strategy", "replicas", "mixed_precision", "global_steps", "planned_steps",
                                      "undertrained", "predicted_end_of_training", "end_of_training", "budget_slack_s",
                                      "below_min_iterations", "restarted_from") if summary.get(k) is not None}
    if summary.get("stopped_early"):
        extras["note"] = summary["stopped_early"]
        extras["status"] = "stopped_early"  # not done: a rerun goes on from the checkpoint or the painted images
    elif summary.get("warning"):
        extras["note"] = summary["warning"]
    if summary.get("chosen_checkpoint"):
        extras["note"] = (extras.get("note", "") + f" packaged {summary['chosen_checkpoint']} (best local MiFID "
                          f"{summary['chosen_mifid']:.2f})").strip()
    return extras
