"""Advantages and bootstrapped targets, the one place that decides what an episode's end means.

The rule (docs/architecture.md): after a **termination** the future value is
0; after a **truncation** (a time limit) it is the value of the final
observation, ``V(s_T)``, which auto-reset keeps in ``info["final_observation"]``.
Within an episode it is the value of the next observation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def next_values(values: jax.Array, last_value: jax.Array, final_values: jax.Array, terminated: jax.Array, truncated: jax.Array) -> jax.Array:
    """The value that follows each step ``[T, ...]``.

    Args:
      values: ``V(s_t)`` of the observations that were acted on, ``[T, ...]``.
      last_value: ``V(s_T)`` of the observation after the last step, ``[...]``.
      final_values: value of the final observation at each step, used where ``truncated``.
      terminated, truncated: how each step ended, bool ``[T, ...]``.
    """
    following = jnp.concatenate([values[1:], last_value[None]], axis=0)
    return jnp.where(terminated, 0.0, jnp.where(truncated, final_values, following))


def generalized_advantages(
    rewards: jax.Array, values: jax.Array, next_value: jax.Array, ended: jax.Array, gamma: float, gae_lambda: float
) -> jax.Array:
    r"""GAE (Schulman et al. 2016) over time-major ``[T, ...]`` arrays.

    ``δ_t = r_t + γ V_next(t) - V(s_t)`` and ``A_t = δ_t + γ λ (1 - ended_t) A_{t+1}``,
    where ``V_next`` comes from :func:`next_values` and ``ended = terminated | truncated``
    stops the sum at every episode boundary. Returns ``A`` ``[T, ...]``.
    """
    deltas = rewards + gamma * next_value - values

    def backwards(advantage, step):
        delta, end = step
        advantage = delta + gamma * gae_lambda * jnp.where(end, 0.0, advantage)
        return advantage, advantage

    _, advantages = jax.lax.scan(backwards, jnp.zeros_like(deltas[0]), (deltas, ended), reverse=True)
    return advantages
