"""The Kaggle kernel bundle: a params file turned into a folder for ``kaggle kernels push`` whose one notebook
carries the package's code, runs the chosen stages on Kaggle's read-only mount, offline, and leaves
``/kaggle/working/images.zip``. Every weights setting must be a file attached to the kernel: the submission run is
offline, so 'imagenet' is refused here, with the data set to attach. Extra paintings (``fetch.extra_monet``) come
the same way: each ``kaggle:OWNER/SLUG[/SUBFOLDER]`` entry is attached as a data set; a local folder is refused."""
from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from pathlib import Path

from monet.core.environment import COMPETITION
from monet.core.weights import KAGGLE_FILE, KAGGLE_GRAPH, KERAS_FILES, weights_settings
from monet.data.extra import kaggle_dataset
from monet.data.images import DataError
from monet.kaggle.download import KaggleError
from monet.kaggle.kernel import MACHINES, kernel_slug

__all__ = ["slugify", "machine", "check_readable_offline", "extra_monet_sources", "bundle", "KAGGLE_DATASET_HOWTO"]

KAGGLE_DATASET_HOWTO = ("python -m monet weights kaggle; mkdir kaggle-inception-2015; cp ~/.cache/monet/"
                        "kaggle_inception_2015.npz ~/.cache/monet/kaggle_inception_2015.json kaggle-inception-2015/; "
                        "kaggle datasets init -p kaggle-inception-2015 (set its title and id to "
                        "YOU/kaggle-inception-2015 in dataset-metadata.json); kaggle datasets create -p "
                        "kaggle-inception-2015")


# --------------------------------------------------------------------------------------------- bundle
def slugify(text: str) -> str:
    """Kaggle's kernel slug for a title: lower case, runs of other characters as single hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


_SOURCES = ("monet/**/*.py", "pipeline.py", "notebooks/*.ipynb", "notebooks/*.py")


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
print("pipeline code from commit {commit}, unpacked into", src)
from importlib.metadata import version, PackageNotFoundError  # noqa: E402
from monet.kaggle import kernel  # noqa: E402

def _version(name):
    for dist in (name, name + "-cpu"):
        try:
            return version(dist)
        except PackageNotFoundError:
            pass

print(kernel.check_versions({{n: _version(n) for n in kernel.MIN_VERSIONS}}))  # stops here on ones it cannot run
CONTINUE_FROM = {continue_from!r}  # USER/KERNEL: this session continues that kernel's run folder'''

RUN = '''import shutil

import pipeline
from monet.core import environment

outputs = environment.kaggle_working() / "outputs"
settings = []
if CONTINUE_FROM:  # the earlier session's run folder, copied out of its read-only output; its batch kept
    import yaml

    continued = kernel.bring_in(RUN_NAME, CONTINUE_FROM, outputs, environment.kaggle_root() / "input")
    batch = kernel.pinned_batch(continued, yaml.safe_load(PARAMS_YAML)["cyclegan"]["batch_size"])
    settings = ["--set", f"cyclegan.batch_size={{batch}}"] if batch else []
    print(f"continuing {{CONTINUE_FROM}}'s run: {{continued}}" + (f" at global batch {{batch}}" if batch else ""))
status = pipeline.main(["--params", str(src / "params" / (RUN_NAME + ".yaml")), "--outputs", str(outputs),
                        *settings])
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

from monet.core import runs

record = json.loads((run_dir / "run.json").read_text())
display(Markdown(runs.summary_markdown({{k: v["status"] + (" - " + v["note"] if v.get("note") else "")
                                        for k, v in record["stages"].items()}}, "Stages")))
grid = run_dir / "submission" / "grid.png"
if grid.is_file():
    display(Image(filename=str(grid)))'''


def machine(p: dict) -> tuple[str, str]:
    """(accelerator, Kaggle's machine_shape) of the kernel, chosen, not left to Kaggle's default; the params made to
    fit it: a TPU kernel trains on the TPU strategy (or stops at once and says why), and ``batch_size: auto`` is
    pinned to what it gives on that machine, so a later session elsewhere does not set the checkpoints aside."""
    accelerator, shape = p["kaggle"]["accelerator"], p["kaggle"]["machine_shape"]
    if shape == "auto":
        shape = {"gpu": "NvidiaTeslaT4", "tpu": "Tpu1VmV38", "none": "none"}[accelerator]
    if MACHINES[shape][0] != accelerator:
        raise KaggleError(f"kaggle.machine_shape {shape} is a {MACHINES[shape][0]} machine, but kaggle.accelerator "
                          f"is {accelerator}")
    if accelerator == "tpu" and p["cyclegan"]["strategy"] == "auto":
        p["cyclegan"]["strategy"] = "tpu"
    if p["cyclegan"]["batch_size"] == "auto":
        p["cyclegan"]["batch_size"] = MACHINES[shape][1]
    return accelerator, shape


def check_readable_offline(p: dict) -> None:
    """What the kernel reads must be there without internet: no 'imagenet' weights (all three settings: Kaggle's
    submission run is offline), a ``cyclegan.restart_from`` under /kaggle/input."""
    for key, value, filename in weights_settings(p):
        if value in ("auto", "kaggle") and not p["kaggle"]["dataset_sources"]:
            raise KaggleError(f"{key} is {value!r}: Kaggle's network, which a kernel reads from an attached data set "
                              f"holding {KAGGLE_FILE} (the kernel finds it under /kaggle/input). Make that data set "
                              f"once: {KAGGLE_DATASET_HOWTO}; then list it in kaggle.dataset_sources (or set {key} "
                              "to 'none' for random weights)")
        if value == "imagenet":
            filename = KERAS_FILES["vgg"] if key == "nst.vgg_weights" else filename
            raise KaggleError(f"{key} is 'imagenet', which needs internet; Kaggle kernels of this competition run "
                              f"without it. Attach a data set holding {filename} (kaggle.dataset_sources) and set "
                              f"{key} to its /kaggle/input/... path"
                              + (", e.g. wendykan/dog-face-generation-competition-kid-metric-input for Kaggle's "
                                 "scoring network" if filename == KAGGLE_GRAPH else "") + ".")
    restart = p["cyclegan"]["restart_from"]
    if restart and not str(restart).startswith("/kaggle/input/"):
        raise KaggleError(f"cyclegan.restart_from {restart!r} is a folder of this machine, which a Kaggle kernel "
                          "cannot read: upload the earlier run's folder (or its output) as a Kaggle data set, attach "
                          "it (kaggle.dataset_sources) and give its /kaggle/input/... path")


def extra_monet_sources(entries) -> list[str]:
    """The Kaggle data sets (OWNER/SLUG) that ``fetch.extra_monet`` needs attached: one for each
    ``kaggle:OWNER/SLUG[/SUBFOLDER]`` entry (the kernel's fetch stage finds its mount). A path is kept only under
    ``/kaggle/input/`` (a data set you attach yourself with ``kaggle.dataset_sources``); any other path is refused:
    the kernel has no such folder."""
    sources = []
    for entry in entries:
        try:
            dataset = kaggle_dataset(entry)
        except DataError as exc:
            raise KaggleError(str(exc)) from exc
        if dataset:
            sources.append(dataset[0])
        elif not entry.startswith("/kaggle/input/"):
            raise KaggleError(f"fetch.extra_monet entry {entry!r} is a folder of this machine, which a Kaggle kernel "
                              "does not have. Upload it as a Kaggle data set (kaggle datasets create -p FOLDER, "
                              "after kaggle datasets init -p FOLDER) and give kaggle:OWNER/SLUG instead; the bundle "
                              "attaches it.")
    return list(dict.fromkeys(sources))


def bundle(params_path: str | Path, user: str, out_dir: str | Path | None = None, overrides=(),
           repo: str | Path | None = None, continue_from: str | None = None) -> Path:
    """Turn a params file into a folder for ``kaggle kernels push``: ``kernel-metadata.json`` and one
    self-contained notebook that unpacks the package, runs the chosen stages on Kaggle's mount and leaves
    ``/kaggle/working/images.zip`` plus the run folder with every stage's report. ``continue_from`` (USER/KERNEL)
    attaches that kernel's output and continues its run folder (:mod:`monet.kaggle.kernel`). Returns the folder."""
    import nbformat
    import yaml

    from monet.core import params as P, runs

    repo = Path(repo) if repo else Path(__file__).resolve().parents[2]
    params_path = Path(params_path)
    p = P.load_params(params_path, list(overrides))
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", user or ""):
        raise KaggleError(f"--user {user!r}: expected your Kaggle user name")
    check_readable_offline(p)
    p["data_dir"] = "auto"  # Kaggle's mount
    extra_sources = extra_monet_sources(p["fetch"]["extra_monet"])
    run_name = params_path.stem
    title = f"monet {run_name}"
    slug = slugify(title)
    out = Path(out_dir) if out_dir else repo / "build" / "kaggle" / slug
    out.mkdir(parents=True, exist_ok=True)
    accelerator, shape = machine(p)
    if continue_from:
        kernel_slug(continue_from)  # USER/KERNEL, or a clear error now
    metadata = {
        "id": f"{user}/{slug}", "title": title, "code_file": f"{slug}.ipynb", "language": "python",
        "kernel_type": "notebook", "is_private": True, "enable_gpu": accelerator == "gpu",
        "enable_tpu": accelerator == "tpu", "enable_internet": False, "competition_sources": [COMPETITION],
        "dataset_sources": list(dict.fromkeys(list(p["kaggle"]["dataset_sources"]) + extra_sources)),
        "model_sources": list(p["kaggle"]["model_sources"]),
        "kernel_sources": [continue_from] if continue_from else [],
        **({"machine_shape": shape} if shape != "none" else {}),
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
                                                   params_yaml=params_yaml, run_name=run_name, commit=commit,
                                                   continue_from=continue_from)),
        nbformat.v4.new_code_cell(RUN.format()),
        nbformat.v4.new_code_cell(SHOW.format()),
    ]
    nbformat.write(nb, str(out / f"{slug}.ipynb"))
    return out
