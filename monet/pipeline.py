"""Run an experiment: validate its params, then execute the stage notebooks in order with papermill.

``python pipeline.py --params FILE`` (or ``python -m monet run --params FILE``) calls :func:`run`. Each stage
leaves ``outputs/<run>/NN_<stage>.ipynb`` and an ``.html`` rendering without code; ``run.json`` records params,
commit, versions and each stage's status and duration. A rerun skips stages that finished with the same params
and resumes the rest (training from its last checkpoint); ``force`` reruns all. While a stage runs, its progress
file (:mod:`monet.core.progress`) is shown as one line. Exit status: 0 done, 1 a stage failed, 2 bad params or data,
130 interrupted.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from monet.core import budget, environment, params as P, progress, runs, weights
from monet.core.schema import STAGES, Stage, decay_from
from monet.data.extra import check_extra_folders, resolve_extra_folder
from monet.data.fetch import check_layout, resolve_data_dir
from monet.data.images import DataError
from monet.kaggle import download as kaggle_download

REPO = Path(__file__).resolve().parents[1]  # notebooks/, params/ and outputs/ live beside the package


def list_experiments() -> int:
    for path in sorted((REPO / "params").glob("*.yaml")):
        try:
            p = P.load_params(path)
            print(f"{path.stem:<12} {','.join(p['stages']):<54} {p['description']}")
        except P.ParamsError as exc:
            print(f"{path.stem:<12} INVALID: {exc}")
    return 0


def resolve_params(params: dict) -> dict:
    """Make a relative data_dir, cyclegan.restart_from and the paths of fetch.extra_monet absolute (from the
    repository root; notebooks
    run with it as working directory). ``kaggle:`` entries stay as they are: the fetch stage finds their mount."""
    if params["data_dir"] not in ("synthetic", "auto", "kaggle"):
        path = Path(params["data_dir"]).expanduser()
        params["data_dir"] = str(path if path.is_absolute() else (REPO / path).resolve())
    params["fetch"]["extra_monet"] = [e if e.startswith("kaggle:") else str(resolve_extra_folder(e, REPO))
                                      for e in params["fetch"]["extra_monet"]]
    if params["cyclegan"]["restart_from"]:
        path = Path(params["cyclegan"]["restart_from"]).expanduser()
        params["cyclegan"]["restart_from"] = str(path if path.is_absolute() else (REPO / path).resolve())
    return params


def plan_stages(params: dict, record: dict, force: bool) -> list[tuple[Stage, str, bool]]:
    """(stage, fingerprint, skip) for each stage of this run. A fingerprint covers the stage's params and
    its upstream stages' fingerprints, so a changed stage reruns everything after it; so does a stage that runs
    again for any other reason (its training resumed after a budget stop, say)."""
    done = record.get("stages", {})
    upstream, plan, rerun = "", [], False
    for stage in STAGES:
        if stage.name not in params["stages"]:
            if done.get(stage.name, {}).get("status") == "done":
                upstream = done[stage.name]["fingerprint"]
            continue
        stage_params = P.without_later_defaults(P.stage_parameters(params, stage.name))
        fp = P.fingerprint({"stage": stage.name, "params": stage_params,
                            "upstream": upstream})
        prev = done.get(stage.name, {})
        # A stage that runs again (resumed after a budget stop, a failure) changes what the stages after it read.
        skip = not force and not rerun and prev.get("status") == "done" and prev.get("fingerprint") == fp
        plan.append((stage, fp, skip))
        rerun = rerun or not skip
        upstream = fp
    return plan


def describe(params: dict, plan, run_dir: Path) -> str:
    lines = [f"run folder: {run_dir}", f"data_dir:   {params['data_dir']}"]
    if "cyclegan_train" in params["stages"]:
        from monet.models import architecture as A  # no Keras: the plan answers at once

        c = params["cyclegan"]
        args = A.model_args(c)
        gen, disc = args["generator"], args["discriminator"]
        rf = A.receptive_field(A.discriminator_layers(**disc))
        epochs = "epochs auto (as many steps as the time budget allows)" if c["epochs"] == "auto" \
            else f"{c['epochs']} epochs"
        batch = "auto (32 on a TPU, 4 per GPU, 1 on a CPU)" if c["batch_size"] == "auto" else c["batch_size"]
        levers = [f"{k} {c[k]}" for k, off in (("augment_photo", None), ("augment_monet", None), ("diffaugment", []),
                                               ("label_smoothing", 0.0), ("pool_size", 0), ("ema", 0.0)) if c[k] != off]
        schedule = (f"held, then linear decay from {decay_from(c):.0%} of the steps" if c["lr_schedule"] == "linear_decay"
                    else "constant")
        lines.append(f"cyclegan:   {epochs}, global batch {batch}, lr {c['learning_rate']} ({schedule})")
        g, d = A.generator_parameters(gen), A.discriminator_parameters(disc)
        counts = (f"gen_g {g:,}, disc_y {d:,}, net_f {A.net_f_parameters(gen, args['nce']):,} parameters; no cycle "
                  "loss, no image pool" if "nce" in args else
                  f"gen_g and gen_f {g:,} parameters each, disc_x and disc_y {d:,} each")
        lines.append(f"            model {c['model']}: {counts}")
        lines.append(f"            generator {gen} ({g:,} parameters)")
        lines.append(f"            discriminator {disc} (receptive field {rf}x{rf}, {d:,} parameters)")
        if "nce" in args:
            lines.append(f"            {A.describe_nce(gen, args['nce'])}")
        lines.append(f"            levers: {', '.join(levers)}")
    if "nst_generate" in params["stages"]:
        n = params["nst"]
        photos = "all photos" if n["limit"] is None else f"the first {n['limit']} photos"
        its = ("auto (each photo its share of the time budget, at least " f"{n['min_iterations']})"
               if n["max_iterations"] == "auto" else f"at most {n['max_iterations']}")
        lines.append(f"nst:        {photos}, {n['optimizer']} lr {n['learning_rate']}, {its} "
                     f"iterations (patience {n['patience']}), style {n['style_layers']}, content {n['content_layer']}, "
                     f"weights {n['vgg_weights']}")
    for stage, fp, skip in plan:
        lines.append(f"  {stage.notebook:<28} {'skip: done with the same params' if skip else 'run'}  [{fp}]")
    return "\n".join(lines)


def preflight(params_file, params: dict, run_dir: Path, running: list[str]) -> list[str]:
    """What would stop the run, found before any stage starts: an ``auto`` plan without a time budget, data that
    is not there (a fetch.extra_monet folder missing or without images included), and weights that cannot be had
    (a missing file, or 'imagenet' offline) by the stages that will run (``running``: a stage skipped as done needs
    none)."""
    problems = []
    needs_budget = [k for k, on in (("cyclegan.epochs", "cyclegan_train" in params["stages"]
                                     and params["cyclegan"]["epochs"] == "auto"),
                                    ("nst.max_iterations", "nst_generate" in params["stages"]
                                     and params["nst"]["max_iterations"] == "auto")) if on]
    if needs_budget and not (params["time_budget_minutes"] or environment.default_time_budget_minutes()):
        problems.append(f"{params_file}: {' and '.join(needs_budget)} 'auto' plan(s) the run from its time budget, "
                        "and this run has none: set time_budget_minutes (Kaggle sets 270 by default), e.g. "
                        "--set time_budget_minutes=60")
    try:
        if "fetch" in running:
            check_extra_folders(params["fetch"]["extra_monet"], REPO)
    except DataError as exc:
        problems.append(f"{params_file}: {exc}")
    try:
        if "fetch" in params["stages"] and params["data_dir"] != "synthetic":
            root, kind = resolve_data_dir(params["data_dir"], run_dir, REPO)
            if kind == "download":
                print(f"data: the fetch stage downloads the competition into {root} "
                      f"(credentials: {kaggle_download.require_credentials()})")
            else:
                check_layout(root)
    except (DataError, kaggle_download.KaggleError) as exc:
        problems.append(str(exc))
    if "cyclegan_train" in params["stages"]:
        from monet.models import architecture

        try:  # what the schema cannot check alone: e.g. cyclegan.nce_layers against the generator's layers
            architecture.model_args(params["cyclegan"])
            if params["cyclegan"]["restart_from"] and "cyclegan_train" in running:
                from monet.gan.selection import restart_checkpoint

                restart_checkpoint(Path(params["cyclegan"]["restart_from"]), params["cyclegan"])
        except (ValueError, FileNotFoundError) as exc:
            problems.append(f"{params_file}: {exc}")
    return problems + weights.check_weights({**params, "stages": running})


class CtrlC:
    """Remembers every SIGINT (Ctrl-C) while a run goes on, and raises KeyboardInterrupt as Python does.

    A KeyboardInterrupt that lands while a library finishes a notebook (closing its kernel, rendering the report)
    can be swallowed there; the chain then went on to the next stage as if nothing was pressed. The run asks
    :attr:`pressed` after each stage instead of trusting that the exception arrived.
    """

    def __init__(self):
        self.pressed = False
        self._previous = None

    def _handle(self, signum, frame):
        self.pressed = True
        raise KeyboardInterrupt

    def __enter__(self) -> "CtrlC":
        # Signals reach the main thread only; a process started with SIGINT ignored (a background job of a
        # script) keeps ignoring it, as Python itself does.
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def run_stage(stage: Stage, parameters: dict, run_dir: Path, kernel: str, log_output: bool) -> None:
    """Execute one stage's notebook while its progress file is shown (as plain lines with ``log_output``, whose
    raw stream would tear an updating line)."""
    import papermill as pm

    out_nb, _ = runs.stage_files(run_dir, stage.notebook)
    with progress.Follower(os.environ[progress.PROGRESS_ENV], stage.name, tty=False if log_output else None):
        pm.execute_notebook(str(REPO / "notebooks" / stage.notebook), str(out_nb), parameters=parameters,
                            kernel_name=kernel, cwd=str(REPO), progress_bar=False, log_output=log_output,
                            request_save_on_cell_execute=True,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])  # no kernel start-up warnings


def failure_message(stage: Stage, exc: Exception, out_nb: Path, html: Path) -> str:
    import papermill as pm

    if isinstance(exc, pm.PapermillExecutionError):
        first = next((ln for ln in (exc.source or "").splitlines() if ln.strip() and not ln.startswith("#")), "")
        where = f"cell {exc.exec_count} (`{first.strip()[:70]}`)"
        what = f"{exc.ename}: {exc.evalue}"
    else:
        where, what = "before any cell ran", f"{type(exc).__name__}: {exc}"
    return (f"stage '{stage.name}' failed in {where}:\n  {what}\n  notebook: {out_nb}\n  report:   {html}")


def run(args: argparse.Namespace) -> int:
    """Run (or resume, or with ``dry_run`` only plan) the experiment of ``args`` (see :mod:`monet.cli`)."""
    if args.list:
        return list_experiments()
    if not args.params:
        print("error: --params FILE is required (or --list)", file=sys.stderr)
        return 2
    try:
        params = resolve_params(P.load_params(args.params, args.overrides))
    except P.ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run_name = args.run_name or Path(args.params).stem
    run_dir = (Path(args.outputs or environment.default_outputs(REPO)) / run_name).resolve()
    record = runs.read_run_json(run_dir)
    plan = plan_stages(params, record, args.force)
    running = [stage.name for stage, _, skip in plan if not skip]
    problems = preflight(args.params, params, run_dir, running)  # every one found now, not after hours of training
    if problems:
        print("\n".join(f"error: {p}" for p in problems), file=sys.stderr)
        return 2
    killed = runs.mark_killed(record)
    if killed:
        print(f"note: the previous run in {run_dir} ended without a word while running {', '.join(killed)} "
              "(killed, or its machine stopped); going on from what it finished")
    print(describe(params, plan, run_dir))
    if args.dry_run:
        return 0

    run_dir.mkdir(parents=True, exist_ok=True)
    _start_record(record, args, params, run_name)
    users_onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    saved_env = {k: os.environ.get(k) for k in (budget.DEADLINE_ENV, "TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL",
                                                environment.VERBOSE_ENV, environment.LOAD_LOG_ENV,
                                                progress.PROGRESS_ENV)}
    if record["deadline"]:
        os.environ[budget.DEADLINE_ENV] = repr(record["deadline"])
    else:
        os.environ.pop(budget.DEADLINE_ENV, None)
    try:
        with CtrlC() as ctrl_c:
            try:
                return _run_stages(args, params, plan, run_dir, record, users_onednn, ctrl_c)
            except KeyboardInterrupt:  # between two stages: the record says so
                record["status"] = "interrupted"
                runs.write_run_json(run_dir, record)
                print("interrupted between stages; run the same command again to go on", file=sys.stderr)
                return 130
    finally:  # a run called in-process (a notebook, a test) leaves its caller's environment as it found it
        for key, value in saved_env.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def _start_record(record: dict, args, params: dict, run_name: str) -> None:
    """What run.json says of this invocation: params, commit, versions, the process, and its deadline. The
    deadline counts from this invocation and reaches the stages through their environment only: a notebook run by
    hand later in this folder has none (the same goes for TensorFlow's settings)."""
    record.update(run_name=run_name, params_file=str(Path(args.params).resolve()), overrides=args.overrides,
                  params=params, git=runs.git_info(REPO), versions=runs.versions())
    record.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    record["process"] = runs.this_process()  # a later run tells a killed one from a live one by it
    record["status"] = "running"
    record.setdefault("stages", {})
    record["environment"] = environment.detect()
    minutes = params["time_budget_minutes"] or environment.default_time_budget_minutes()
    record["time_budget_minutes"] = minutes
    record["deadline"] = time.time() + minutes * 60 if minutes else None


def _run_stages(args, params: dict, plan, run_dir: Path, record: dict, users_onednn: str | None,
                ctrl_c: CtrlC) -> int:
    status, stopped = "done", []
    for stage, fp, skip in plan:
        if skip:
            print(f"[{stage.name}] skipped: finished earlier with the same params")
            continue
        if stage.name == "evaluate" and params["package"]["shard"]:
            print(f"[{stage.name}] skipped: package.shard wrote a partial zip; merge the shards "
                  "(python -m monet merge), then score the whole")
            continue
        entry, status = _run_one(args, params, stage, fp, run_dir, record, users_onednn, ctrl_c)
        if status != "done":
            print(entry.get("error", f"[{stage.name}] {entry['status']}"
                            + ("" if entry["status"] == "interrupted" else ", then Ctrl-C stopped the run")
                            + "; run the same command again to go on"), file=sys.stderr)
            return 1 if status == "failed" else 130
        entry.update(runs.stage_extras(run_dir, stage.name))
        runs.write_run_json(run_dir, record)
        note = entry.get("note")
        if entry["status"] == "stopped_early":
            stopped.append(stage.name)
        print(f"[{stage.name}] {entry['status'].replace('_', ' ')} in {entry['seconds']:.0f} s"
              + (f": {note}" if note else ""), flush=True)
    record["status"] = "stopped_early" if stopped else "done"
    runs.write_run_json(run_dir, record)
    zip_path = run_dir / "images.zip"
    print(f"finished: {run_dir}" + (f"\nsubmission: {zip_path}" if zip_path.is_file() else ""))
    if stopped:
        print(f"note: {', '.join(stopped)} stopped early for the time budget; run the same command again (with more "
              "time) to go on from where it stopped")
    return 0


def _stage_environment(args, params: dict, stage: Stage, run_dir: Path, users_onednn: str | None) -> Path:
    """The environment a stage's kernel starts with: oneDNN off only where gradients are summed (training,
    painting: forward passes keep its speed), TensorFlow's verbosity, the progress file, and the file that keeps
    what TensorFlow says if the kernel dies while loading it (returned)."""
    os.environ.pop("TF_ENABLE_ONEDNN_OPTS", None)
    if users_onednn is not None:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = users_onednn
    os.environ.update(environment.tensorflow_environment(
        params["deterministic"] and stage.name in environment.GRADIENT_STAGES, args.verbose))
    os.environ[environment.VERBOSE_ENV] = "1" if args.verbose else ""
    os.environ[progress.PROGRESS_ENV] = str(run_dir / "progress.json")
    load_log = run_dir / f".tensorflow-load-{stage.name}.log"
    os.environ[environment.LOAD_LOG_ENV] = str(load_log)
    return load_log


def _run_one(args, params: dict, stage: Stage, fp: str, run_dir: Path, record: dict, users_onednn: str | None,
             ctrl_c: CtrlC) -> tuple[dict, str]:
    """Run one stage's notebook and record it (status, seconds, error, report); returns its entry and the run's
    status after it ('done', 'failed' or 'interrupted')."""
    parameters = {"run_dir": str(run_dir), **P.stage_parameters(params, stage.name)}
    if args.force and "resume" in parameters:
        parameters["resume"] = False
    out_nb, html = runs.stage_files(run_dir, stage.notebook)
    load_log = _stage_environment(args, params, stage, run_dir, users_onednn)
    entry = {"status": "running", "fingerprint": fp, "notebook": str(out_nb), "html": str(html),
             "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    record["stages"][stage.name] = entry
    runs.write_run_json(run_dir, record)
    print(f"[{stage.name}] running {stage.notebook} ...", flush=True)
    t0, status = time.time(), "done"
    try:
        run_stage(stage, parameters, run_dir, args.kernel, args.log_output)
        entry["status"] = "done"
    except KeyboardInterrupt:
        entry["status"], status = "interrupted", "interrupted"
    except Exception as exc:  # noqa: BLE001 - any failure is reported with the notebook's path
        if getattr(exc, "ename", None) == "KeyboardInterrupt":  # Ctrl-C reached the kernel first
            entry["status"], status = "interrupted", "interrupted"
        else:
            entry["status"], status = "failed", "failed"
            entry["error"] = failure_message(stage, exc, out_nb, html)
            last_words = environment.load_log_lines(load_log)
            if last_words:
                entry["error"] += "\n  TensorFlow said:\n    " + last_words.strip().replace("\n", "\n    ")
    finally:
        load_log.unlink(missing_ok=True)
        entry["seconds"] = round(time.time() - t0, 2)
        _render(stage, out_nb, html)
        if ctrl_c.pressed and status == "done":  # the stage finished its work; the run stops after it
            status = "interrupted"
        record["status"] = status if status != "done" else "running"
        runs.write_run_json(run_dir, record)
    return entry, status


def _render(stage: Stage, out_nb: Path, html: Path) -> None:
    """The stage's HTML report (a convenience: a failure to render keeps the real error)."""
    if not out_nb.is_file():
        return
    try:
        runs.notebook_to_html(out_nb, html)
    except KeyboardInterrupt:  # remembered by ctrl_c: the run stops after this stage, with its record written
        pass
    except Exception as exc:  # noqa: BLE001
        print(f"[{stage.name}] could not render {html}: {exc}", file=sys.stderr)
