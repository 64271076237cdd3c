"""Epochs of minibatch updates over a rollout, split along environments so sequences stay whole."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax


def minibatch_epochs(
    update: Callable[[Any, Any], tuple[Any, dict]], carry: Any, key: jax.Array, data: Any, num_epochs: int, num_minibatches: int
) -> tuple[Any, dict]:
    """``num_epochs`` passes; each splits ``data``'s leading (environment) axis at random into ``num_minibatches``.

    ``update(carry, minibatch) -> (carry, stats)`` sees every leaf of ``data``
    restricted to ``num_envs // num_minibatches`` environments and all their
    steps. Returns the final carry and ``stats`` stacked ``[num_epochs, num_minibatches]``.
    """
    num_envs = jax.tree.leaves(data)[0].shape[0]
    size = num_envs // num_minibatches

    def epoch(carry, key):
        order = jax.random.permutation(key, num_envs).reshape(num_minibatches, size)
        return jax.lax.scan(lambda carry, idx: update(carry, jax.tree.map(lambda leaf: leaf[idx], data)), carry, order)

    return jax.lax.scan(epoch, carry, jax.random.split(key, num_epochs))
