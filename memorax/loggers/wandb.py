"""Weights & Biases (``--logger wandb``)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from memorax.loggers.logger import scalars


def require_wandb() -> None:
    """Raises a ValueError saying how to install wandb, where it is missing."""
    if importlib.util.find_spec("wandb") is None:
        raise ValueError("--logger wandb needs wandb: install it with pip install 'memorax[wandb]'.")


class WandbLogger:
    """Logs a record's :func:`scalars` at step ``env_steps`` to a wandb run configured with the run's options.

    The run's files go under ``directory/wandb``; the project is
    ``WANDB_PROJECT`` (default ``memorax``). ``WANDB_MODE=offline`` keeps
    the run on disk, to upload later with ``wandb sync``. A resumed run
    logs to a new wandb run of the same name.

    Args:
      directory: the run directory.
      name: the wandb run's name.
      config: the run's options, as ``config.json`` holds them.
    """

    def __init__(self, directory: Path, name: str, config: dict):
        require_wandb()
        import wandb

        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "memorax"), name=name, config=config, dir=str(directory), reinit="create_new"
        )

    def log(self, record: dict) -> None:
        self.run.log(scalars(record), step=record["env_steps"])

    def close(self) -> None:
        self.run.finish()
