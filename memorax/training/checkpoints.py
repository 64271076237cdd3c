"""Checkpoints of a run with orbax: the agent's whole state (parameters, optimizer, environments, memory) and where the run stands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
    """A run's checkpoint is missing or unreadable."""


class Checkpoints:
    """The checkpoints in ``directory``, one per logging interval, the last ``keep`` kept.

    orbax writes each one under a temporary name and renames it when complete,
    so a run killed while saving leaves the previous checkpoint as the latest.
    """

    def __init__(self, directory: Path, keep: int = 2):
        self.directory = directory.absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, interval: int, state: Any, progress: dict) -> None:
        """Saves ``state`` (any pytree of arrays) and ``progress`` (JSON) as interval ``interval``."""
        args = ocp.args.Composite(state=ocp.args.StandardSave(state), progress=ocp.args.JsonSave(progress))
        self.manager.save(interval, args=args, force=True)
        self.manager.wait_until_finished()

    def latest(self) -> int | None:
        return self.manager.latest_step()

    def restore(self, like: Any) -> tuple[Any, dict]:
        """The latest checkpoint's state (with the structure of ``like``) and progress."""
        interval = self.latest()
        if interval is None:
            raise CheckpointError(f"no checkpoint in {self.directory}; nothing to resume or evaluate.")
        args = ocp.args.Composite(state=ocp.args.StandardRestore(like), progress=ocp.args.JsonRestore())
        try:
            restored = self.manager.restore(interval, args=args)
        except Exception as error:  # orbax raises many kinds; all mean the files cannot be read
            raise CheckpointError(
                f"the checkpoint {self.directory / str(interval)} cannot be read ({type(error).__name__}: {error}); "
                "it was left as it is."
            ) from error
        return restored["state"], restored["progress"]

    def close(self) -> None:
        self.manager.close()
