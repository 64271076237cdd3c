"""Replayed sequences: unrolling a network from a stored carry with a burn-in that is not trained on, and valuing them."""

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


def sequence_values(
    value_of: Callable[[Any, StepInputs, jax.Array], jax.Array],
    carry: Any,
    inputs: StepInputs,
    final_inputs: StepInputs,
    truncated: jax.Array,
    key: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Values of every observation and of every truncated step's final observation, time-major ``[T, batch]``.

    ``value_of(carry, inputs, key) -> values [batch, T]`` reads the sequences
    ``inputs [batch, T, ...]`` from ``carry`` in one pass. The final
    observation of an episode truncated at step ``t`` (``truncated [batch, T]``;
    ``final_inputs`` as ``inputs``: the observation that step ended on, before
    any auto-reset) is valued with the memory of its episode, as acting would
    have seen it: by a pass over the sequence with that observation put at step
    ``t + 1``, in place of the next episode's first (``done`` False there, so
    the memory carries on). The networks are causal, so up to ``t + 1`` that
    pass reads the sequence itself. One pass values the ``k``-th truncated step
    of every sequence: there are as many as the most truncated steps in one
    sequence, none for tasks that end by termination (the card games, most of
    POPGym). Elsewhere the final values are 0:
    :func:`~memorax.algorithms.common.returns.next_values` reads them only where
    a step was truncated.
    """
    values_key, final_key = jax.random.split(key)
    values = value_of(carry, inputs, values_key)
    nth = jnp.cumsum(truncated, axis=1) * truncated  # k at a sequence's k-th truncated step, 0 elsewhere
    # One step more, so that a sequence truncated at its last step has a step t + 1.
    padded = jax.tree.map(lambda leaf: jnp.concatenate([leaf, leaf[:, -1:]], axis=1), inputs)
    following = jax.tree.map(lambda leaf: jnp.concatenate([leaf[:, :1], leaf], axis=1), final_inputs)  # t + 1 holds t's

    def value_kth(k, final_values):
        at = nth == k
        put = jnp.pad(at, ((0, 0), (1, 0)))
        spliced = jax.tree.map(
            lambda leaf, final: jnp.where(put.reshape(put.shape + (1,) * (leaf.ndim - 2)), final, leaf), padded, following
        )
        return final_values + jnp.where(at, value_of(carry, spliced, jax.random.fold_in(final_key, k))[:, 1:], 0)

    final_values = jax.lax.fori_loop(1, nth.max() + 1, value_kth, jnp.zeros_like(values))
    return swap_batch_time((values, final_values))
