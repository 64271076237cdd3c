"""A rich progress bar: steps done, steps per second, time left and the latest mean return."""

from __future__ import annotations

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn


class ProgressBar:
    """Advances to each record's ``env_steps`` out of ``total_steps``."""

    def __init__(self, description: str, total_steps: int, done: int = 0):
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=16),
            TextColumn("{task.completed:,.0f} steps · {task.fields[rate]}/s · return {task.fields[episode_return]} ·"),
            TimeRemainingColumn(),
            TextColumn("left"),
        )
        self.task = self.progress.add_task(description, total=total_steps, completed=done, rate="-", episode_return="-")
        self.progress.start()

    def log(self, record: dict) -> None:
        episode_return = record.get("episode_return")
        self.progress.update(
            self.task,
            completed=record["env_steps"],
            rate=f"{record['steps_per_second']:,.0f}",
            episode_return="-" if episode_return is None else f"{episode_return:+.3f}",
        )

    def close(self) -> None:
        self.progress.stop()
