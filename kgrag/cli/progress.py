"""Progress of long commands that shows anywhere: rich's live bars on a terminal, plain lines in a
log, a pipe or a container.

Every long command (``kg import``, ``build-index``, ``make-kgqa``, ``model prepare``, ``finetune``,
``eval …``) reports through one :class:`CommandProgress`. The library functions it drives take a
``progress(stage, done, total)`` callback and know nothing of how it is shown. Progress goes to
stderr, so stdout keeps only results: ``kgrag build-index > built.txt`` still draws the bars on the
terminal. When stderr is not a terminal (``2> log``, ``docker logs``, CI), each stage prints a line
when it starts, every ``step_pct`` percent or ``interval_s`` seconds (whichever comes first), and
when it ends::

    [build-index] entities (use-multilingual): 0/224,076 (0%)
    [build-index] entities (use-multilingual): 11,264/224,076 (5%), 41 s, about 13 min left
    [build-index] entities (use-multilingual): 224,076/224,076 (100%) in 13.6 min

``TTY_COMPATIBLE=1`` or ``FORCE_COLOR=1`` make rich treat any stream as a terminal (bars),
``TTY_COMPATIBLE=0`` as none (lines).

Example:
    >>> with CommandProgress("build-index") as progress:
    ...     build_index(store, out, "use-multilingual", progress=progress)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from kgrag.cli.console import err_console

ProgressFn = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; ``total`` 0 when the stage's size is not known."""


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(slots=True)
class _Stage:
    started: float
    printed_at: float
    printed_pct: float
    done: int = 0
    total: int = 0
    finished: bool = False


class PlainLines:
    """Progress as plain lines on ``console``: a stage's first report, every ``step_pct`` percent or
    ``interval_s`` seconds after the last line, and its end (done == total)."""

    def __init__(self, title: str, console: Console, *, interval_s: float = 10.0, step_pct: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if interval_s <= 0 or not 0 < step_pct <= 100:
            raise ValueError(f"interval_s must be > 0 and step_pct in (0, 100]; got {interval_s}, {step_pct}")
        self.title, self.console, self.interval_s, self.step_pct, self.clock = (
            title, console, interval_s, step_pct, clock)
        self._stages: dict[str, _Stage] = {}

    def _say(self, text: str) -> None:
        self.console.print(f"[{self.title}] {text}", markup=False, highlight=False, soft_wrap=True)

    def update(self, stage: str, done: int, total: int) -> None:
        now = self.clock()
        s = self._stages.get(stage)
        if s is None:
            s = self._stages[stage] = _Stage(started=now, printed_at=now, printed_pct=-1.0)
            self._line(stage, s, done, total, now)
            return
        if s.finished:
            return
        pct = 100.0 * done / total if total else 0.0
        ended = bool(total) and done >= total
        if ended or now - s.printed_at >= self.interval_s or (total and pct - s.printed_pct >= self.step_pct):
            self._line(stage, s, done, total, now)

    def _line(self, stage: str, s: _Stage, done: int, total: int, now: float) -> None:
        s.done, s.total, s.printed_at = done, total, now
        elapsed = now - s.started
        if not total:
            what = f"{stage}: {done:,}" if done else f"{stage}…"
            self._say(what + (f" ({_duration(elapsed)})" if elapsed >= 1 else ""))
            return
        pct = 100.0 * done / total
        s.printed_pct = pct
        text = f"{stage}: {done:,}/{total:,} ({pct:.0f}%)"
        if done >= total:
            s.finished = True
            self._say(f"{text} in {_duration(elapsed)}")
            return
        if elapsed >= 1:
            text += f", {_duration(elapsed)}"
            if done:
                text += f", about {_duration(elapsed * (total - done) / done)} left"
        self._say(text)

    def finish(self) -> None:
        """A last line for each stage that did not report its end (stopped early, or of unknown size)."""
        now = self.clock()
        for stage, s in self._stages.items():
            if not s.finished and (s.done or s.total):
                self._say(f"{stage}: stopped at {s.done:,}" + (f"/{s.total:,}" if s.total else "")
                          + f" after {_duration(now - s.started)}")
            s.finished = True


class LiveBars:
    """Progress as rich's live bars, one per stage, cleared at the end."""

    def __init__(self, title: str, console: Console) -> None:
        self.title = title
        self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True)
        self._tasks: dict[str, TaskID] = {}
        self._bar.start()

    def update(self, stage: str, done: int, total: int) -> None:
        if stage not in self._tasks:
            for task in self._bar.tasks:  # a new stage ends the earlier ones of unknown size
                if task.total is None:
                    self._bar.update(task.id, total=1, completed=1)
            self._tasks[stage] = self._bar.add_task(f"{self.title}: {stage}", total=total or None)
        self._bar.update(self._tasks[stage], completed=done, total=total or None)

    def finish(self) -> None:
        self._bar.stop()


class CommandProgress:
    """The progress of one command: a context manager, called as ``progress(stage, done, total)``.

    Args:
        title: the command, put in front of each line (``build-index``).
        console: where to show it (default: stderr).
        live: bars (True) or lines (False); default: bars when ``console`` is a terminal.
        interval_s, step_pct: how often lines come (see :class:`PlainLines`).
    """

    def __init__(self, title: str, console: Console | None = None, *, live: bool | None = None,
                 interval_s: float = 10.0, step_pct: float = 5.0) -> None:
        self.title = title
        self.console = console or err_console
        self.live = self.console.is_terminal if live is None else live
        self._interval_s, self._step_pct = interval_s, step_pct
        self._view: LiveBars | PlainLines | None = None

    def __enter__(self) -> CommandProgress:
        self._view = (LiveBars(self.title, self.console) if self.live else
                      PlainLines(self.title, self.console, interval_s=self._interval_s, step_pct=self._step_pct))
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._view is not None:
            self._view.finish()
            self._view = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._view is None:
            raise RuntimeError("CommandProgress is used outside its `with` block")
        self._view.update(stage, done, total)

    def step(self, stage: str) -> None:
        """A stage of unknown size starts (``kg import``'s ``loading cmekg``)."""
        self(stage, 0, 0)

    def counter(self, stage: str, total: int) -> Callable[[int], None]:
        """An ``advance(n)`` callback for code that reports increments rather than totals."""
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            self(stage, done, total)

        return advance
