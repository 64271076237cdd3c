"""The progress of a benchmark: its grid of cells, the cell running, and the time left."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from memorax.loggers.progress import SPEED_WINDOW_SECONDS


class BenchmarkProgress:
    """The progress of a models × environments grid; a logger of the running cell's records.

    On a terminal it is a live display: each cell shows ``·`` (to run), the
    share of its steps done, its mean evaluation return, or ``failed``; below,
    one bar counts the steps of all cells, with the time left. Elsewhere (a log
    file, CI) it writes a line as each cell ends: the cells done, the cell's
    outcome and the time left. Either way the time left comes from the steps
    trained in this session only: not those of cells found done, of a resumed
    cell before its resume, or of a failed cell after its failure. The line's
    estimate also leaves out a resumed cell's own time, whose compilation and
    evaluation a few steps could not pay for, and waits for a cell run whole.
    With ``enabled`` False it shows nothing.
    """

    def __init__(
        self, kinds: Sequence[str], envs: Sequence[str], steps_per_cell: int, enabled: bool = True, console: Console | None = None
    ):
        self.kinds, self.envs, self.steps_per_cell = list(kinds), list(envs), steps_per_cell
        self.cells = {(kind, env): "·" for kind in kinds for env in envs}
        self.done = 0
        self.running: tuple[str, str] | None = None
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            TextColumn("{task.completed:,.0f} of {task.total:,.0f} steps ·"),
            TimeRemainingColumn(),
            TextColumn("left"),
            speed_estimate_period=SPEED_WINDOW_SECONDS,
        )
        self.task = self.progress.add_task("benchmark", total=len(self.cells) * steps_per_cell)
        self.console = console or Console(stderr=True)
        self.lines = enabled and not self.console.is_terminal
        self.live = Live(self._render(), console=self.console, refresh_per_second=2, transient=False) if enabled and not self.lines else None
        if self.live is not None:
            self.live.start()
        self.cell_steps = 0
        self.cell_began, self.resumed = time.monotonic(), False
        self.timed_seconds, self.timed_steps = 0.0, 0  # of the cells run from their start in this session

    def _render(self) -> Group:
        table = Table("model", *self.envs, title="memorax benchmark")
        for kind in self.kinds:
            table.add_row(kind, *(self.cells[kind, env] for env in self.envs))
        return Group(table, self.progress)

    def _update(self, completed: int) -> None:
        self.progress.update(self.task, completed=completed)
        if self.live is not None:
            self.live.update(self._render())

    def start(self, kind: str, env: str, completed: int = 0) -> None:
        """The cell starts, or resumes with ``completed`` of its steps trained in an earlier session."""
        self.running, self.cell_steps = (kind, env), completed
        self.cell_began, self.resumed = time.monotonic(), completed > 0
        self.cells[kind, env] = "running"
        if completed:  # steps not run now: counted as done, left out of the rate
            self.progress.reset(self.task, completed=self.done + completed)
        self._update(self.done + completed)

    def log(self, record: dict) -> None:
        self.cell_steps = record["env_steps"]
        self.cells[self.running] = f"{record['env_steps'] / self.steps_per_cell:.0%}"
        self._update(self.done + record["env_steps"])

    def finish(self, kind: str, env: str, outcome: str) -> None:
        """A cell has ended (now or in an earlier session): ``outcome`` is what its square shows."""
        self.cells[kind, env] = outcome
        self.done += self.steps_per_cell
        ran_now = self.running == (kind, env)
        if not ran_now or self.cell_steps < self.steps_per_cell:  # steps not run now (a failed cell's rest): left out of the rate
            self.progress.reset(self.task, completed=self.done)
        self._update(self.done)
        if ran_now:
            self.running = None
            if not self.resumed:
                self.timed_seconds += time.monotonic() - self.cell_began
                self.timed_steps += self.cell_steps
            if self.lines:
                self.console.print(f"{self.finished} of {len(self.cells)} cells done; {kind} × {env}: {outcome}{self._time_left()}")

    @property
    def finished(self) -> int:
        """Cells ended, now or in an earlier session."""
        return self.done // self.steps_per_cell

    def _time_left(self) -> str:
        left = (len(self.cells) - self.finished) * self.steps_per_cell
        if not left or not self.timed_steps:
            return ""
        minutes = round(self.timed_seconds / self.timed_steps * left / 60)
        if minutes >= 60:
            return f"; about {minutes // 60} h {minutes % 60:02d} min left"
        return f"; about {minutes} min left" if minutes else "; under a minute left"

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
