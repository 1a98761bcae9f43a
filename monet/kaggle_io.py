"""Everything that talks to Kaggle: credentials, download, the kernel bundle, push and submit.

The ``kaggle`` package is imported here only, and only when needed: importing it prints a notice and its
``authenticate()`` ends the process (``SystemExit``) when credentials are missing, so both are wrapped and turned
into :class:`KaggleError` with our own message. Credentials are read by the ``kaggle`` package from the
environment or the user's Kaggle config folder; this module only checks that some source exists and never
reads, prints or stores a secret.

Command line (``python -m monet.kaggle_io --help``)::

    download [--to DIR]                          the competition data, once (a complete download is reused)
    bundle --params P --user NAME [--set K=V]    a folder ready for `kaggle kernels push`
    push BUNDLE_DIR                              push (and so run) the kernel on Kaggle
    submit --kernel NAME/SLUG [--version N]      check the kernel's images.zip, then submit it
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from . import files
from .environment import COMPETITION
from .weights import KAGGLE_GRAPH, KERAS_FILES, weights_settings

__all__ = ["KaggleError", "credential_source", "require_credentials", "api", "safe_extract", "download_competition",
           "EXPECTED_COUNTS", "bundle", "push", "submit", "slugify"]

EXPECTED_COUNTS = {"monet": 300, "photo": 7038}
COMPETITION_URL = f"https://www.kaggle.com/competitions/{COMPETITION}"
NO_CREDENTIALS = (
    "no Kaggle credentials found. Provide them in one of these ways:\n"
    "  1. export KAGGLE_API_TOKEN=<token>   (generate one at https://www.kaggle.com/settings/api)\n"
    "  2. export KAGGLE_USERNAME=<name> KAGGLE_KEY=<key>   (the two values of a legacy kaggle.json)\n"
    "  3. save the token as ~/.kaggle/access_token, or kaggle.json as ~/.kaggle/kaggle.json (chmod 600);\n"
    "     KAGGLE_CONFIG_DIR moves that folder\n"
    f"You must also join the competition and accept its rules at {COMPETITION_URL}/rules.\n"
    "Without Kaggle access, data_dir: synthetic runs the whole pipeline offline.")


class KaggleError(RuntimeError):
    """A Kaggle step cannot be done; the message says why and what to do."""


# ----------------------------------------------------------------------------------------- credentials
def _config_dir() -> Path:
    return Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle")).expanduser()


def credential_source() -> str | None:
    """Where the ``kaggle`` package will find credentials (a description, never the secret), or None."""
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "environment variable KAGGLE_API_TOKEN"
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "environment variables KAGGLE_USERNAME and KAGGLE_KEY"
    for name in ("access_token", "kaggle.json"):
        if (_config_dir() / name).is_file():
            return str(_config_dir() / name)
    return None


def require_credentials() -> str:
    source = credential_source()
    if source is None:
        raise KaggleError(NO_CREDENTIALS)
    return source


def api():
    """An authenticated ``KaggleApi``; KaggleError (never SystemExit or the package's notice) otherwise."""
    require_credentials()
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            from kaggle.api.kaggle_api_extended import KaggleApi

            client = KaggleApi()
            client.authenticate()
    except ModuleNotFoundError:
        raise KaggleError("the kaggle package is not installed: python -m pip install kaggle") from None
    except (SystemExit, Exception) as exc:  # noqa: BLE001 - SystemExit is how the package reports bad credentials
        raise KaggleError(f"Kaggle refused the credentials from {credential_source()} "
                          f"({type(exc).__name__}). {NO_CREDENTIALS}") from None
    return client


def _call(what: str, fn, *args, **kwargs):
    """Call the Kaggle API quietly; its failures (SystemExit included) become KaggleError."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            return fn(*args, **kwargs)
    except (SystemExit, Exception) as exc:  # noqa: BLE001
        text = str(exc)
        hint = (f" Have you joined the competition and accepted its rules at {COMPETITION_URL}/rules?"
                if "403" in text or "Forbidden" in text else "")
        raise KaggleError(f"Kaggle {what} failed: {type(exc).__name__}: {text[:300]}.{hint}") from None


# ----------------------------------------------------------------------------------------------- data
def safe_extract(zip_path: str | Path, dest: str | Path) -> list[str]:
    """Extract ``zip_path`` into ``dest``, refusing (before writing anything) any member that would land outside
    ``dest``: absolute paths, ``..`` parts, links. Returns the member names."""
    dest = Path(dest).resolve()
    with zipfile.ZipFile(zip_path) as zf:
        infos = zf.infolist()
        for info in infos:
            name = info.filename
            target = (dest / name).resolve()
            is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
            if name.startswith(("/", "\\")) or ".." in Path(name).parts or is_link or not target.is_relative_to(dest):
                raise KaggleError(f"{zip_path}: refusing member {name!r}: it would land outside {dest}")
        dest.mkdir(parents=True, exist_ok=True)
        zf.extractall(dest)
    return [i.filename for i in infos]


def _counts(root: Path) -> dict[str, int]:
    from .data import FOLDERS

    return {d: sum(1 for p in (root / f).iterdir() if p.is_file()) for d, f in FOLDERS.items()}


def download_competition(target: str | Path, expected: dict[str, int] | None = None, client_factory=None,
                         log=print) -> Path:
    """Download and extract the competition into ``target`` once; a complete earlier download is reused.

    The archive is extracted safely into a temporary folder beside ``target``, its layout and image counts are
    checked against ``expected`` (Kaggle's 300 paintings and 7,038 photos), and only then is it moved into place
    with a ``.download-complete.json`` marker. ``client_factory`` (default :func:`api`) is for tests.
    """
    from .data import check_layout

    target = Path(target)
    expected = EXPECTED_COUNTS if expected is None else expected
    marker = target / ".download-complete.json"
    if marker.is_file():
        log(f"Using the complete download in {target}")
        return target
    if target.exists() and any(target.iterdir()):
        raise KaggleError(f"{target} exists, is not empty and holds no complete download: move it away or point "
                          "data_dir at another folder")
    client = (client_factory or api)()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
        log(f"Downloading {COMPETITION} into {target} ...")
        _call("download", client.competition_download_files, COMPETITION, path=tmp, quiet=True)
        archives = sorted(Path(tmp).glob("*.zip"))
        if not archives:
            raise KaggleError(f"the download left no zip archive in {tmp}")
        staged = Path(tmp) / "extracted"
        safe_extract(archives[0], staged)
        check_layout(staged)
        counts = _counts(staged)
        short = {d: (counts[d], n) for d, n in expected.items() if counts.get(d) != n}
        if short:
            raise KaggleError("the download is incomplete or not the competition's data: " + ", ".join(
                f"{n_found:,} {d} images where {n_want:,} were expected" for d, (n_found, n_want) in short.items()))
        if target.exists():
            target.rmdir()
        shutil.move(str(staged), str(target))
    files.write_json(marker, {"competition": COMPETITION, "counts": counts})
    return target


# --------------------------------------------------------------------------------------------- bundle
def slugify(text: str) -> str:
    """Kaggle's kernel slug for a title: lower case, runs of other characters as single hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


_SOURCES = ("monet/*.py", "pipeline.py", "notebooks/*.ipynb", "notebooks/*.py")


def _source_zip(repo: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for pattern in _SOURCES:
            for path in sorted(repo.glob(pattern)):
                info = zipfile.ZipInfo(str(path.relative_to(repo)), date_time=(1980, 1, 1, 0, 0, 0))
                zf.writestr(info, path.read_bytes())
    return buf.getvalue()


BOOTSTRAP = '''# Unpack the pipeline's code, carried inside this notebook (no pip install, no internet on Kaggle).
import base64, io, os, sys, tempfile, zipfile
from pathlib import Path

SOURCE = "{source}"
PARAMS_YAML = {params_yaml!r}
RUN_NAME = {run_name!r}
src = Path(tempfile.mkdtemp(prefix="monet-src-"))
zipfile.ZipFile(io.BytesIO(base64.b64decode(SOURCE))).extractall(src)
(src / "params").mkdir()
(src / "params" / (RUN_NAME + ".yaml")).write_text(PARAMS_YAML)
sys.path.insert(0, str(src))
os.environ["PYTHONPATH"] = str(src) + os.pathsep + os.environ.get("PYTHONPATH", "")  # the stages' kernels too
os.environ["MONET_SOURCE_COMMIT"] = "{commit}"  # run.json records the bundled code, not a checkout
import monet  # noqa: E402
assert Path(monet.__file__).resolve().is_relative_to(src.resolve()), f"monet imported from {{monet.__file__}}"
print("pipeline code from commit {commit}, unpacked into", src)'''

RUN = '''import shutil

import pipeline
from monet import environment

outputs = environment.kaggle_working() / "outputs"
status = pipeline.main(["--params", str(src / "params" / (RUN_NAME + ".yaml")), "--outputs", str(outputs)])
run_dir = outputs / RUN_NAME
if (run_dir / "images.zip").is_file():
    shutil.copy2(run_dir / "images.zip", environment.kaggle_working() / "images.zip")
    print("submission:", environment.kaggle_working() / "images.zip")
else:
    print("no images.zip: see", run_dir / "run.json")
assert status == 0, f"the pipeline exited with status {{status}}"'''

SHOW = '''import json

from IPython.display import Image, Markdown, display

# On a TPU VM one process may hold the TPU: the stages' own kernels, never this notebook's.
print("TensorFlow loaded in this notebook's process:", "tensorflow" in sys.modules)

from monet import runs

record = json.loads((run_dir / "run.json").read_text())
display(Markdown(runs.summary_markdown({{k: v["status"] + (" - " + v["note"] if v.get("note") else "")
                                        for k, v in record["stages"].items()}}, "Stages")))
grid = run_dir / "submission" / "grid.png"
if grid.is_file():
    display(Image(filename=str(grid)))'''


def bundle(params_path: str | Path, user: str, out_dir: str | Path | None = None, overrides=(),
           repo: str | Path | None = None) -> Path:
    """Turn a params file into a folder for ``kaggle kernels push``: ``kernel-metadata.json`` and one
    self-contained notebook that unpacks the package, runs the chosen stages on Kaggle's mount and leaves
    ``/kaggle/working/images.zip`` plus the run folder with every stage's report. Returns the folder."""
    import nbformat
    import yaml

    from . import params as P
    from . import runs

    repo = Path(repo) if repo else Path(__file__).resolve().parents[1]
    params_path = Path(params_path)
    p = P.load_params(params_path, list(overrides))
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", user or ""):
        raise KaggleError(f"--user {user!r}: expected your Kaggle user name")
    for key, value, filename in weights_settings(p):  # all three: Kaggle's submission run is offline
        if value == "imagenet":
            filename = KERAS_FILES["vgg"] if key == "nst.vgg_weights" else filename
            raise KaggleError(f"{key} is 'imagenet', which needs internet; Kaggle kernels of this competition run "
                              f"without it. Attach a data set holding {filename} (kaggle.dataset_sources) and set "
                              f"{key} to its /kaggle/input/... path"
                              + (", e.g. wendykan/dog-face-generation-competition-kid-metric-input for Kaggle's "
                                 "scoring network" if filename == KAGGLE_GRAPH else "") + ".")
    p["data_dir"] = "auto"  # Kaggle's mount
    run_name = params_path.stem
    title = f"monet {run_name}"
    slug = slugify(title)
    out = Path(out_dir) if out_dir else repo / "build" / "kaggle" / slug
    out.mkdir(parents=True, exist_ok=True)
    accelerator = p["kaggle"]["accelerator"]
    metadata = {
        "id": f"{user}/{slug}", "title": title, "code_file": f"{slug}.ipynb", "language": "python",
        "kernel_type": "notebook", "is_private": True, "enable_gpu": accelerator == "gpu",
        "enable_tpu": accelerator == "tpu", "enable_internet": False, "competition_sources": [COMPETITION],
        "dataset_sources": list(p["kaggle"]["dataset_sources"]), "model_sources": list(p["kaggle"]["model_sources"]),
        "kernel_sources": [],
    }
    (out / "kernel-metadata.json").write_text(json.dumps(metadata, indent=1))
    git = runs.git_info(repo)
    commit = (git["commit"] or "unknown") + (" plus uncommitted changes" if git.get("dirty") else "")
    kept = {k: v for k, v in p.items() if k != "kaggle"}
    params_yaml = f"# {run_name}, bundled for Kaggle from {params_path.name} at commit {commit}\n" \
        + yaml.safe_dump(kept, sort_keys=False)
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            f"# {title}\n\n{p['description']}\n\nStages: {', '.join(p['stages'])}. Made by the Monet pipeline's "
            f"`python -m monet bundle` from `{params_path.name}` at commit `{commit}`. Leaves "
            "`/kaggle/working/images.zip` and the run folder with every stage's executed notebook and report."),
        nbformat.v4.new_code_cell(BOOTSTRAP.format(source=base64.b64encode(_source_zip(repo)).decode(),
                                                   params_yaml=params_yaml, run_name=run_name, commit=commit)),
        nbformat.v4.new_code_cell(RUN.format()),
        nbformat.v4.new_code_cell(SHOW.format()),
    ]
    nbformat.write(nb, str(out / f"{slug}.ipynb"))
    return out


# ----------------------------------------------------------------------------------------- push, submit
def push(bundle_dir: str | Path, client_factory=None, log=print) -> dict:
    """Push a bundle folder: Kaggle saves a new version of the kernel and runs it."""
    bundle_dir = Path(bundle_dir)
    meta = json.loads((bundle_dir / "kernel-metadata.json").read_text())
    client = (client_factory or api)()
    response = _call("kernels push", client.kernels_push, str(bundle_dir))
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
    from . import runs
    from .submission import validate_zip

    if run_dir is not None:
        validate_zip(Path(run_dir) / "images.zip")
    client = (client_factory or api)()
    with tempfile.TemporaryDirectory() as tmp:
        # The zip of the version that is submitted: 'owner/slug/N' names version N (the latest without it).
        source = kernel if version is None else f"{kernel}/{version}"
        _call("kernel output download", client.kernels_output, source, path=tmp, file_pattern="images.zip")
        found = sorted(Path(tmp).rglob("images.zip"))
        if not found:
            raise KaggleError(f"kernel {source} has no images.zip in its output: has its run finished? See "
                              f"https://www.kaggle.com/code/{kernel}")
        checked = validate_zip(found[0])
    if message is None:
        name = Path(run_dir).name if run_dir else kernel.split("/")[-1]
        commit = runs.git_info(Path(__file__).resolve().parents[1])["commit"] or "unknown commit"
        message = f"{name} @ {commit[:12]}"
    _call("submission", client.competition_submit_code, file_name="images.zip", message=message,
          competition=COMPETITION, kernel=kernel, kernel_version=version, quiet=True)
    log(f"Submitted {kernel}'s images.zip ({checked['count']:,} images): {message}. Scores appear at "
        f"{COMPETITION_URL}/submissions")
    return {"kernel": kernel, "version": version, "message": message, **checked}


if __name__ == "__main__":  # the old entry point, an alias of: python -m monet ...
    import runpy

    sys.argv[:1] = ["monet"]
    runpy.run_module("monet", run_name="__main__")
