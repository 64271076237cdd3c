"""TensorBoard event files (``--logger tensorboard``), through tensorboardX."""

from __future__ import annotations

from pathlib import Path

from tensorboardX import SummaryWriter

from memorax.loggers.logger import scalars


class TensorBoardLogger:
    """Writes a record's :func:`scalars` at step ``env_steps``."""

    def __init__(self, directory: Path):
        self.writer = SummaryWriter(str(directory))

    def log(self, record: dict) -> None:
        for name, value in scalars(record).items():
            self.writer.add_scalar(name, value, record["env_steps"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
