"""A rich progress bar: steps done, steps per second, time left and the latest mean return."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

SPEED_WINDOW_SECONDS = 24 * 3600
"""The rate that gives the time left is averaged over this much of the past: all of a run, where rich's 30 s keep one
record of an interval longer than that, and then no rate and no time left."""


class ProgressBar:
    """Advances to each record's ``env_steps`` out of ``total_steps``.

    On a terminal it is a live bar; elsewhere (a log file, CI) it writes a line
    per record: the steps done, the rate and the mean return.
    """

    def __init__(self, description: str, total_steps: int, done: int = 0, console: Console | None = None):
        self.description, self.total_steps = description, total_steps
        self.console = console or Console(stderr=True)
        self.lines = not self.console.is_terminal
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=16),
            TextColumn("{task.completed:,.0f} steps · {task.fields[rate]}/s · return {task.fields[episode_return]} ·"),
            TimeRemainingColumn(),
            TextColumn("left"),
            console=self.console,
            speed_estimate_period=SPEED_WINDOW_SECONDS,
        )
        self.task = self.progress.add_task(description, total=total_steps, completed=done, rate="-", episode_return="-")
        if not self.lines:
            self.progress.start()

    def log(self, record: dict) -> None:
        episode_return = record.get("episode_return")
        rate = f"{record['steps_per_second']:,.0f}"
        shown = "-" if episode_return is None else f"{episode_return:+.3f}"
        self.progress.update(self.task, completed=record["env_steps"], rate=rate, episode_return=shown)
        if self.lines:
            self.console.print(f"{self.description}: {record['env_steps']:,} of {self.total_steps:,} steps · {rate}/s · return {shown}")

    def close(self) -> None:
        if not self.lines:
            self.progress.stop()
