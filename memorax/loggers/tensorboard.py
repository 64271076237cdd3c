"""TensorBoard event files (``--logger tensorboard``), through tensorboardX."""

from __future__ import annotations

from pathlib import Path

from tensorboardX import SummaryWriter


class TensorBoardLogger:
    """Writes every numeric field of a record as a scalar at step ``env_steps``."""

    def __init__(self, directory: Path):
        self.writer = SummaryWriter(str(directory))

    def log(self, record: dict) -> None:
        for name, value in record.items():
            if name not in ("interval", "env_steps") and isinstance(value, (int, float)):
                self.writer.add_scalar(name, value, record["env_steps"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
