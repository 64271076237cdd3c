"""Replayed sequences: unrolling a network from a stored carry, with a burn-in that is not trained on."""

from __future__ import annotations

from typing import Any

import jax

from memorax.algorithms.common.vector_env import StepInputs
from memorax.networks import Network


def time_slice(tree: Any, start: int, stop: int | None = None) -> Any:
    """Steps ``start:stop`` of every leaf ``[batch, time, ...]``."""
    return jax.tree.map(lambda leaf: leaf[:, start:stop], tree)


def unroll(network: Network, inputs: StepInputs, carry: Any, burn_in: int = 0, **head_kwargs) -> Any:
    """The network's outputs on steps ``burn_in:`` of sequences ``[batch, time, ...]`` that start from ``carry``.

    The first ``burn_in`` steps only advance the carry (R2D2, Kapturowski et
    al. 2019): a stored carry is stale, and the burn-in refreshes it with the
    current parameters. No gradient flows through them: the carry they produce
    enters the trained steps as a constant.
    """
    if burn_in:
        warm = time_slice(inputs, 0, burn_in)
        carry, _ = network(warm.obs, warm.done, carry, warm.prev_action, warm.prev_reward, **time_slice(head_kwargs, 0, burn_in))
        carry = jax.lax.stop_gradient(carry)
    trained = time_slice(inputs, burn_in)
    _, outputs = network(
        trained.obs, trained.done, carry, trained.prev_action, trained.prev_reward, **time_slice(head_kwargs, burn_in)
    )
    return outputs
