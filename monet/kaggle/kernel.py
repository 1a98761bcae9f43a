"""What a bundled kernel checks and brings in before its chain runs: TensorFlow's and Keras's versions (stop at once
on ones this code cannot run), and a second Kaggle session that continues the first. Every Kaggle version starts
with an empty ``/kaggle/working``,
so the bundle (``--continue-from USER/KERNEL``) attaches the earlier kernel's output, which Kaggle mounts read-only
under ``/kaggle/input/<kernel slug>/``, and the kernel copies that run folder into ``/kaggle/working/outputs/``
before the chain runs. The checkpoints carry the global batch they trained at; the kernel trains on at that batch
(``batch_size: auto`` would follow the new machine and set them aside) or stops at once and says why."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

__all__ = ["ContinuationError", "kernel_slug", "bring_in", "pinned_batch", "check_versions", "MACHINES",
           "MIN_VERSIONS"]

# kaggle.machine_shape -> (accelerator, the global batch 'auto' gives there: 4 per GPU, 32 on a TPU v3-8)
MACHINES = {"NvidiaTeslaT4": ("gpu", 8), "NvidiaTeslaP100": ("gpu", 4), "Tpu1VmV38": ("tpu", 32), "none": ("none", 1)}


class ContinuationError(RuntimeError):
    """The earlier session's run cannot be continued here; the message says what to change."""


def kernel_slug(ref: str) -> str:
    """``USER/KERNEL`` -> ``KERNEL`` (where Kaggle mounts its output), or an error naming the expected form."""
    parts = str(ref).split("/")
    if len(parts) != 2 or not all(parts):
        raise ContinuationError(f"--continue-from {ref!r}: expected USER/KERNEL, the kernel whose output to continue")
    return parts[1]


def bring_in(run_name: str, ref: str, outputs: Path, kaggle_input: Path) -> Path | None:
    """Copy the run folder of kernel ``ref``'s output into ``outputs`` (writable), unless it is already there.
    Returns the folder; raises ContinuationError when the attached output holds no such run."""
    target = Path(outputs) / run_name
    if (target / "run.json").is_file():
        return target  # this session already has it (a rerun of the same version)
    mounted = Path(kaggle_input) / kernel_slug(ref)
    found = [p for p in (mounted / "outputs" / run_name, mounted / run_name) if (p / "run.json").is_file()]
    if not found:
        raise ContinuationError(f"{ref}'s output (mounted at {mounted}) holds no run folder {run_name!r} with a "
                                f"run.json: attach the kernel that ran this experiment (its output has "
                                f"outputs/{run_name}/), or bundle without --continue-from to start afresh")
    shutil.copytree(found[0], target, copy_function=shutil.copyfile, dirs_exist_ok=True)
    for folder, dirs, names in os.walk(target):  # Kaggle's input is read-only: the copy must not be
        os.chmod(folder, 0o755)
        for name in names:
            os.chmod(Path(folder) / name, 0o644)
    return target


def pinned_batch(run_dir: Path, asked) -> int | None:
    """The global batch to train on at: the one the run's checkpoints were made with (``asked`` 'auto' takes it;
    another number stops the kernel at once), None when there is no checkpoint yet."""
    metas = sorted(Path(run_dir).glob("cyclegan/checkpoints/*/checkpoint.json"))
    if not metas:
        return None
    batch = json.loads(metas[-1].read_text()).get("batch_size")
    if batch is None:
        return None
    if asked not in ("auto", None) and int(asked) != int(batch):
        raise ContinuationError(f"the attached run trained at global batch {batch}; this bundle asks "
                                f"cyclegan.batch_size {asked}, which would set its checkpoints aside. Bundle with "
                                f"--set cyclegan.batch_size={batch}, or without --continue-from to start afresh")
    return int(batch)


MIN_VERSIONS = {"tensorflow": (2, 16), "keras": (3, 3)}  # Keras 3 (its loss-scale optimizer, .keras files)


def check_versions(versions: dict) -> str:
    """One line naming TensorFlow's and Keras's versions; ContinuationError at once for ones this code cannot run."""
    line = ", ".join(f"{name} {versions.get(name, 'missing')}" for name in MIN_VERSIONS)
    for name, least in MIN_VERSIONS.items():
        found = versions.get(name)
        numbers = tuple(int(p) for p in str(found).split(".")[:2] if p.isdigit()) if found else ()
        if len(numbers) < 2 or numbers < least:
            raise ContinuationError(f"{line}: this pipeline needs {name} {'.'.join(map(str, least))} or newer; "
                                    "choose the latest Kaggle environment in the kernel's settings")
    return line
