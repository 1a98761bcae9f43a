"""Push a bundle (Kaggle saves and runs the kernel) and submit a finished kernel's ``images.zip``, checked
against Kaggle's rules first."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from monet.core.environment import COMPETITION
from monet.kaggle.download import COMPETITION_URL, KaggleError, api, call

__all__ = ["push", "submit"]


# ----------------------------------------------------------------------------------------- push, submit
def push(bundle_dir: str | Path, client_factory=None, log=print) -> dict:
    """Push a bundle folder: Kaggle saves a new version of the kernel and runs it."""
    bundle_dir = Path(bundle_dir)
    meta = json.loads((bundle_dir / "kernel-metadata.json").read_text())
    client = (client_factory or api)()
    response = call("kernels push", client.kernels_push, str(bundle_dir))
    log(f"Pushed {meta['id']}: Kaggle runs it now (about 5 hours at most). Follow it at "
        f"https://www.kaggle.com/code/{meta['id']}; when it has finished, submit its output with\n"
        f"  python -m monet submit --kernel {meta['id']}")
    return {"id": meta["id"], "response": str(response)}


def submit(kernel: str, version: int | None = None, message: str | None = None, run_dir: str | Path | None = None,
           client_factory=None, log=print) -> dict:
    """Submit a finished kernel's ``images.zip`` to the competition (this competition scores notebook outputs).

    First the zip is checked: the kernel's output is downloaded and validated against Kaggle's rules, and so is
    ``run_dir``'s local zip when given. The message records the run name and git commit.
    """
    from monet.core import runs
    from monet.package.images_zip import validate_zip

    if run_dir is not None:
        validate_zip(Path(run_dir) / "images.zip")
    client = (client_factory or api)()
    with tempfile.TemporaryDirectory() as tmp:
        # The zip of the version that is submitted: 'owner/slug/N' names version N (the latest without it).
        source = kernel if version is None else f"{kernel}/{version}"
        call("kernel output download", client.kernels_output, source, path=tmp, file_pattern="images.zip")
        found = sorted(Path(tmp).rglob("images.zip"))
        if not found:
            raise KaggleError(f"kernel {source} has no images.zip in its output: has its run finished? See "
                              f"https://www.kaggle.com/code/{kernel}")
        checked = validate_zip(found[0])
    if message is None:
        name = Path(run_dir).name if run_dir else kernel.split("/")[-1]
        commit = runs.git_info(Path(__file__).resolve().parents[2])["commit"] or "unknown commit"
        message = f"{name} @ {commit[:12]}"
    call("submission", client.competition_submit_code, file_name="images.zip", message=message,
          competition=COMPETITION, kernel=kernel, kernel_version=version, quiet=True)
    log(f"Submitted {kernel}'s images.zip ({checked['count']:,} images): {message}. Scores appear at "
        f"{COMPETITION_URL}/submissions")
    return {"kernel": kernel, "version": version, "message": message, **checked}
