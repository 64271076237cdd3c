"""TensorBoard event files (``--logger tensorboard``), through tensorboardX."""

from __future__ import annotations

from pathlib import Path

from tensorboardX import SummaryWriter

from memorax.loggers.logger import scalars


class TensorBoardLogger:
    """Writes a record's :func:`scalars` at step ``env_steps``.

    Args:
      directory: where the event files go.
      purge_step: on resuming, the first step the earlier event files' points are dropped from when TensorBoard
        reads them (those logged after the checkpoint the run resumes from, logged again by the resumed run).
    """

    def __init__(self, directory: Path, purge_step: int | None = None):
        self.writer = SummaryWriter(str(directory), purge_step=purge_step)

    def log(self, record: dict) -> None:
        for name, value in scalars(record).items():
            self.writer.add_scalar(name, value, record["env_steps"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
