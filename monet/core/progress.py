"""Live progress: a running stage writes one small JSON file; ``pipeline.py`` follows it and shows one line.

The stage's process (a notebook kernel) knows the figures, and the terminal that started the run belongs to
``pipeline.py``, so they meet in a file: ``pipeline.py`` names it in ``MONET_PROGRESS`` for each stage, the stage
rewrites it (at most every ``every`` seconds) through :class:`Progress`, and :class:`Follower` prints it as one
updating line in a terminal, or as a plain line every minute elsewhere (CI, Kaggle's log; the seconds are
``MONET_PROGRESS_INTERVAL``). A notebook run by hand has no ``MONET_PROGRESS``: nothing is written and its own
progress bars show the same figures.

The file holds: ``task`` (training, painting, translating, scoring), ``done``, ``total``, ``unit``,
``rate`` (units per second over the last updates), ``eta_s``, ``budget_left_s`` (when a time budget is set),
``figures`` (name -> number, e.g. the losses) and ``prefix`` (e.g. ``epoch 2/5``).
"""
from __future__ import annotations

import collections
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

__all__ = ["PROGRESS_ENV", "Progress", "Follower", "format_line", "read"]

PROGRESS_ENV = "MONET_PROGRESS"
INTERVAL_ENV = "MONET_PROGRESS_INTERVAL"  # seconds between plain lines where the output is not a terminal (60)


class Progress:
    """Reports one task's progress to the file named in ``MONET_PROGRESS`` (or ``path``); without one, a no-op.

    ``update(done, total=None, prefix=None, **figures)`` records that ``done`` units are finished; the rate comes
    from the last ``window`` updates, the time left from the rate and ``total``.
    """

    def __init__(self, task: str, total: int | None = None, unit: str = "it", path: str | Path | None = None,
                 every: float = 1.0, window: int = 20, deadline: float | None = None):
        target = path or os.environ.get(PROGRESS_ENV)
        self.path = Path(target) if target else None
        self.task, self.total, self.unit, self.every = task, total, unit, every
        self.deadline = deadline
        self._marks: collections.deque = collections.deque(maxlen=window)
        self._written = 0.0
        self.state: dict = {}

    def update(self, done: int, total: int | None = None, prefix: str | None = None, force: bool = False,
               **figures: float) -> None:
        if total is not None:
            self.total = total
        now = time.time()
        self._marks.append((now, done))
        if self.path is None or (not force and now - self._written < self.every):
            return
        (t0, d0), (t1, d1) = self._marks[0], self._marks[-1]
        rate = (d1 - d0) / (t1 - t0) if t1 > t0 and d1 > d0 else None
        eta = (self.total - done) / rate if rate and self.total else None
        self.state = {"task": self.task, "done": done, "total": self.total, "unit": self.unit,
                      "rate": rate, "eta_s": eta, "prefix": prefix,
                      "budget_left_s": self.deadline - now if self.deadline else None,
                      "figures": {k: float(v) for k, v in figures.items()}, "time": now}
        self._written = now
        try:  # one small write; a reader that catches it half-written skips it (see read)
            self.path.write_text(json.dumps(self.state))
        except OSError:
            pass  # progress is a convenience: never fail a stage for it

    def close(self) -> None:
        if self._marks:
            self.update(self._marks[-1][1], force=True)


def read(path: str | Path) -> dict | None:
    """The last progress written to ``path``, or None (absent, or caught half-written)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def format_line(state: dict, width: int | None = None) -> str:
    """One line such as ``[cyclegan_train] training: epoch 2/5, 40/120 steps (33%) | gen_g 2.31 | 1.9 steps/s | 1:02 left``."""
    done, total, unit = state.get("done", 0), state.get("total"), state.get("unit", "it")
    count = f"{done:,}/{total:,} {unit} ({100 * done / total:.0f}%)" if total else f"{done:,} {unit}"
    line = f"[{state.get('stage', '?')}] {state.get('task', '')}: " + ", ".join(
        p for p in (state.get("prefix"), count) if p)
    figures = state.get("figures") or {}
    if figures:
        line += " | " + " ".join(f"{k} {v:.3g}" for k, v in figures.items())
    if state.get("rate"):
        line += f" | {state['rate']:.3g} {unit}/s"
    if state.get("eta_s") is not None:
        line += f" | {_duration(state['eta_s'])} left"
    if state.get("budget_left_s") is not None:
        line += f" | budget {_duration(state['budget_left_s'])} left"
    if width and len(line) > width - 1:
        line = line[:width - 2] + "…"
    return line


class Follower:
    """Prints the progress file of a running stage: one updating line on a terminal, a plain line every
    ``interval`` seconds otherwise. Use as a context manager around the stage."""

    def __init__(self, path: str | Path, stage: str, stream=None, tty: bool | None = None,
                 interval: float | None = None, poll: float = 0.5):
        self.path, self.stage, self.stream = Path(path), stage, stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = float(os.environ.get(INTERVAL_ENV, 60)) if interval is None else interval
        self.poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._shown = ""
        self._last_plain = 0.0

    def __enter__(self) -> "Follower":
        self.path.unlink(missing_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if not self.tty and not self._shown:  # a stage quicker than the first poll still shows one line
            self.show_once()
        if self.tty and self._shown:
            self.stream.write("\r\x1b[K")  # the stage's own end line replaces the progress line
            self.stream.flush()
        self.path.unlink(missing_ok=True)

    def show_once(self, now: float | None = None) -> str | None:
        state = read(self.path)
        if not state:
            return None
        state["stage"] = self.stage
        now = time.time() if now is None else now
        if self.tty:
            line = format_line(state, shutil.get_terminal_size((100, 20)).columns)
            if line != self._shown:
                self.stream.write("\r\x1b[K" + line)
                self.stream.flush()
                self._shown = line
            return line
        line = format_line(state)
        if line != self._shown and now - self._last_plain >= self.interval:
            self.stream.write(line + "\n")
            self.stream.flush()
            self._shown, self._last_plain = line, now
            return line
        return None

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            self.show_once()
