"""Named moves between the layouts the algorithms use: one step ``[batch, ...]``, sequences ``[batch, time, ...]`` and time-major ``[time, batch, ...]``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def add_time_axis(tree: Any) -> Any:
    """Every leaf ``[batch, ...] -> [batch, 1, ...]``: one step as a sequence of length 1."""
    return jax.tree.map(lambda leaf: leaf[:, None], tree)


def remove_time_axis(tree: Any) -> Any:
    """Every leaf ``[batch, 1, ...] -> [batch, ...]``: the step of a sequence of length 1."""
    return jax.tree.map(lambda leaf: leaf[:, 0], tree)


def swap_batch_time(tree: Any) -> Any:
    """Every leaf ``[batch, time, ...] <-> [time, batch, ...]``: ``lax.scan`` runs along the leading axis."""
    return jax.tree.map(lambda leaf: jnp.swapaxes(leaf, 0, 1), tree)


def first_step(tree: Any) -> Any:
    """Every leaf ``[batch, time, ...] -> [batch, ...]`` at time 0, e.g. the carry a stored sequence starts from."""
    return step_at(tree, 0)


def step_at(tree: Any, index: int) -> Any:
    """Every leaf ``[batch, time, ...] -> [batch, ...]`` at time ``index``."""
    return jax.tree.map(lambda leaf: leaf[:, index], tree)


def first_environment(tree: Any) -> Any:
    """Every leaf ``[num_envs, ...] -> [...]`` of environment 0: one environment's step, the shape a replay stores."""
    return jax.tree.map(lambda leaf: leaf[0], tree)
