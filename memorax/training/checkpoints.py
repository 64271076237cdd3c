"""Checkpoints of a run with orbax: the agent's whole state (parameters, optimizer, environments, memory) and where the run stands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
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
        self._require_like(interval, like)
        args = ocp.args.Composite(state=ocp.args.StandardRestore(like), progress=ocp.args.JsonRestore())
        try:
            restored = self.manager.restore(interval, args=args)
        except Exception as error:  # orbax raises many kinds; all mean the files cannot be read
            raise CheckpointError(
                f"the checkpoint {self.directory / str(interval)} cannot be read ({type(error).__name__}: {error}); "
                "it was left as it is."
            ) from error
        return restored["state"], restored["progress"]

    def _require_like(self, interval: int, like: Any) -> None:
        """Raises a CheckpointError, in a sentence, where the checkpoint's arrays differ in shape or dtype from ``like``'s.

        orbax restores into another model or another number of seeds with a page of its tree, or casts a dtype silently.
        The arrays are compared as (shape, dtype) multisets: orbax keeps the tree's names, not its order.
        """
        try:
            saved = ocp.StandardCheckpointHandler().metadata(self.directory / str(interval) / "state").tree
        except Exception:  # unreadable metadata: restore's own error names the checkpoint
            return
        described = lambda leaves: sorted((tuple(leaf.shape), str(leaf.dtype)) for leaf in leaves)
        found = described(jax.tree.leaves(saved, is_leaf=lambda leaf: hasattr(leaf, "shape")))
        expected = described(jax.tree.leaves(like))
        if found != expected:
            missing = next((array for array in expected if array not in found), None)
            example = f"; the state has an array of shape {list(missing[0])} and dtype {missing[1]} it lacks" if missing else ""
            raise CheckpointError(
                f"the checkpoint {self.directory / str(interval)} does not fit this run's state ({len(found)} arrays saved, "
                f"{len(expected)} expected{example}): was it written by another model, number of seeds or version of "
                "memorax? It was left as it is."
            )

    def close(self) -> None:
        self.manager.close()
