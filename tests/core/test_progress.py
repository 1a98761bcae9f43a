"""The progress file a stage writes and the line pipeline.py shows from it."""
import io
import json
import os

from monet.core import progress


def test_progress_writes_rate_time_left_and_figures(tmp_path, monkeypatch):
    clock = iter(range(100, 200))
    monkeypatch.setattr(progress.time, "time", lambda: float(next(clock)))
    p = progress.Progress("training", 50, "steps", path=tmp_path / "p.json", every=0, deadline=160.0)
    for done in (1, 2, 3):
        p.update(done, prefix="epoch 1/2", gen_g=2.5)
    state = progress.read(tmp_path / "p.json")
    assert state["done"] == 3 and state["total"] == 50 and state["rate"] == 1.0  # one step per (fake) second
    assert state["eta_s"] == 47.0 and state["budget_left_s"] == 58.0 and state["figures"] == {"gen_g": 2.5}
    line = progress.format_line({**state, "stage": "cyclegan_train"})
    assert line == ("[cyclegan_train] training: epoch 1/2, 3/50 steps (6%) | gen_g 2.5 | 1 steps/s | 0:47 left "
                    "| budget 0:58 left")


def test_progress_is_throttled_and_a_no_op_without_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    progress.Progress("x", 3).update(1)  # nowhere to write: nothing happens
    monkeypatch.setenv(progress.PROGRESS_ENV, str(tmp_path / "p.json"))
    p = progress.Progress("painting", 3, "images", every=3600)
    p.update(1)
    p.update(2)  # within the hour: not written
    assert progress.read(tmp_path / "p.json")["done"] == 1
    p.close()  # the last state is always written
    assert progress.read(tmp_path / "p.json")["done"] == 2


def test_a_half_written_file_is_skipped(tmp_path):
    (tmp_path / "p.json").write_text('{"done": 3, "to')
    assert progress.read(tmp_path / "p.json") is None and progress.read(tmp_path / "absent.json") is None


def test_follower_updates_one_line_on_a_terminal_and_prints_plain_lines_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setattr(progress.shutil, "get_terminal_size", lambda fallback=None: os.terminal_size((120, 30)))
    path = tmp_path / "p.json"
    state = {"task": "translating", "done": 64, "total": 7000, "unit": "images", "rate": 60.0, "eta_s": 115}
    term, log = io.StringIO(), io.StringIO()
    with progress.Follower(path, "package_submission", stream=term, tty=True, poll=3600) as f:
        path.write_text(json.dumps(state))
        f.show_once()
        path.write_text(json.dumps({**state, "done": 128}))
        f.show_once()
    assert term.getvalue().count("\r\x1b[K") == 3 and "\n" not in term.getvalue()  # rewritten, then cleared
    assert "[package_submission] translating: 128/7,000 images (2%) | 60 images/s | 1:55 left" in term.getvalue()
    assert not path.exists()  # removed when the stage ends
    with progress.Follower(path, "package_submission", stream=log, tty=False, interval=60, poll=3600) as f:
        path.write_text(json.dumps(state))
        f.show_once(now=1000.0)
        path.write_text(json.dumps({**state, "done": 128}))
        f.show_once(now=1010.0)  # within the minute: not printed
        f.show_once(now=1061.0)
    assert log.getvalue().splitlines() == [
        "[package_submission] translating: 64/7,000 images (1%) | 60 images/s | 1:55 left",
        "[package_submission] translating: 128/7,000 images (2%) | 60 images/s | 1:55 left"]


def test_a_quick_stage_still_shows_one_line(tmp_path):
    path, log = tmp_path / "p.json", io.StringIO()
    with progress.Follower(path, "nst_generate", stream=log, tty=False, poll=3600):
        path.write_text(json.dumps({"task": "painting", "done": 4, "total": 4, "unit": "images"}))
    assert log.getvalue() == "[nst_generate] painting: 4/4 images (100%)\n"


def test_a_line_wider_than_the_terminal_is_cut_to_fit():
    state = {"stage": "cyclegan_train", "task": "training", "done": 5, "total": 10, "unit": "steps",
             "figures": {"gen_g": 1.0, "gen_f": 2.0, "disc_x": 3.0, "disc_y": 4.0}, "rate": 2.0, "eta_s": 3}
    line = progress.format_line(state, width=40)
    assert len(line) == 39 and line.endswith("…") and line.startswith("[cyclegan_train] training: 5/10")
