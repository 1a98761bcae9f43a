"""The front door: python -m monet COMMAND, the old entry points as aliases, answers without TensorFlow."""
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
