"""Replayed sequences: unrolling a network from a stored carry with a burn-in that is not trained on, and valuing them step by step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from memorax.algorithms.common.axes import swap_batch_time
from memorax.algorithms.common.vector_env import StepInputs
from memorax.networks import Network


def time_slice(tree: Any, start: int, stop: int | None = None) -> Any:
    """Steps ``start:stop`` of every leaf ``[batch, time, ...]``."""
    return jax.tree.map(lambda leaf: leaf[:, start:stop], tree)


def unroll(
    network: Network | Callable[..., tuple[Any, Any]], inputs: StepInputs, carry: Any, burn_in: int = 0, **head_kwargs
) -> tuple[Any, Any]:
    """``(warm_carry, outputs)``: the network's outputs on steps ``burn_in:`` of sequences ``[batch, time, ...]`` that start
    from ``carry``, and the carry they start from.

    ``network`` is a :class:`~memorax.networks.Network`, or its ``encode`` for the features its head reads.

    The first ``burn_in`` steps only advance the carry (R2D2, Kapturowski et
    al. 2019): a stored carry is stale, and the burn-in refreshes it with the
    current parameters. No gradient flows through them: the carry they produce,
    ``warm_carry`` (``carry`` itself without burn-in), enters the trained steps
    as a constant.
    """
    if burn_in:
        warm = time_slice(inputs, 0, burn_in)
        carry, _ = network(warm.obs, warm.done, carry, warm.prev_action, warm.prev_reward, **time_slice(head_kwargs, 0, burn_in))
        carry = jax.lax.stop_gradient(carry)
    trained = time_slice(inputs, burn_in)
    _, outputs = network(
        trained.obs, trained.done, carry, trained.prev_action, trained.prev_reward, **time_slice(head_kwargs, burn_in)
    )
    return carry, outputs


def carry_staleness(recomputed: Any, stored: Any) -> jax.Array:
    """The mean over sequences of ``‖stored - recomputed‖ / ‖recomputed‖``, the norms over the carry's floating leaves.

    With ``recomputed`` the carry a burn-in computes with the current
    parameters and ``stored`` the one acting computed for the same step, it
    is 0 while the parameters have not changed since acting and grows as they
    drift: how stale the replay's carries are. Leaves are ``[batch, ...]``;
    only floating and complex ones count (an attention cache's validity flags
    and step counts are not memory the parameters compute).
    """

    def squared(leaves: list[jax.Array]) -> jax.Array:
        return sum(jnp.sum(jnp.abs(leaf.reshape(leaf.shape[0], -1)) ** 2, axis=1) for leaf in leaves)

    inexact = lambda leaf: jnp.issubdtype(leaf.dtype, jnp.inexact)  # noqa: E731
    recomputed = [leaf for leaf in jax.tree.leaves(recomputed) if inexact(leaf)]
    stored = [leaf for leaf in jax.tree.leaves(stored) if inexact(leaf)]
    difference = [a - b for a, b in zip(stored, recomputed)]
    return jnp.mean(jnp.sqrt(squared(difference) / jnp.maximum(squared(recomputed), jnp.finfo(jnp.float32).tiny)))


def values_step_by_step(
    value_of: Callable[[Any, StepInputs, jax.Array], tuple[Any, jax.Array]],
    carry: Any,
    inputs: StepInputs,
    final_inputs: StepInputs,
    truncated: jax.Array,
    key: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Values of every observation and of every truncated step's final observation, time-major ``[T, batch]``.

    ``value_of(carry, step_inputs, key) -> (carry, values [batch])`` reads one
    step. It runs along ``inputs [batch, T, ...]`` from ``carry``; at each step
    where some sequence was ``truncated [batch, T]`` it also values
    ``final_inputs`` (the observation that step ended on, before any
    auto-reset) with the carry that step produced, so the final observation of
    a truncated episode is valued with the memory of that episode, as acting
    would have seen it. At the other steps the final values are 0:
    :func:`~memorax.algorithms.common.returns.next_values` reads them only
    where a step was truncated, and skipping the call saves a network pass
    at almost every step.
    """
    time_major = swap_batch_time((inputs, final_inputs, truncated))
    num_steps = inputs.done.shape[1]

    def step(carry, xs):
        step_inputs, step_final, step_truncated, step_key = xs
        value_key, final_key = jax.random.split(step_key)
        carry, values = value_of(carry, step_inputs, value_key)
        final_values = jax.lax.cond(
            step_truncated.any(), lambda: value_of(carry, step_final, final_key)[1], lambda: jnp.zeros_like(values)
        )
        return carry, (values, final_values)

    _, (values, final_values) = jax.lax.scan(step, carry, (*time_major, jax.random.split(key, num_steps)))
    return values, final_values
