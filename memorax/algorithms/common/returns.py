"""Advantages and bootstrapped targets (GAE, Q(λ), n-step), the one place that decides what an episode's end means.

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


def lambda_returns(
    rewards: jax.Array, next_value: jax.Array, ended: jax.Array, gamma: float, lam: float
) -> jax.Array:
    r"""λ-returns over time-major ``[T, ...]`` arrays, cut at every episode end.

    ``G_t = r_t + γ [(1 - λ) V_next(t) + λ G_{t+1}]`` inside an episode and
    ``G_t = r_t + γ V_next(t)`` where ``ended_t = terminated_t | truncated_t``
    (and at the last step), with ``V_next`` from :func:`next_values`.

    One helper serves both families: with state values, ``G - V`` is GAE
    (Schulman et al. 2016) and ``G`` PPO's value target; with ``max_a Q`` it
    is PQN's Q(λ) target (Gallici et al. 2024).
    """

    def backwards(following, step):
        reward, value, end = step
        target = reward + gamma * jnp.where(end, value, (1 - lam) * value + lam * following)
        return target, target

    _, targets = jax.lax.scan(backwards, next_value[-1], (rewards, next_value, ended), reverse=True)
    return targets


def n_step_returns(rewards: jax.Array, next_value: jax.Array, ended: jax.Array, gamma: float, n: int) -> jax.Array:
    r"""n-step targets over time-major ``[T, ...]`` arrays, cut at every episode end.

    ``G^n_t = r_t + γ r_{t+1} + ... + γ^{m-1} r_{t+m-1} + γ^m V_next(t+m-1)``
    with ``m = min(n, steps to the episode's end, steps to the sequence's end)``
    and ``V_next`` from :func:`next_values`: the episode-end rule decides the
    bootstrap at a truncation (the final observation's value) or a termination (0).
    """
    if n < 1:
        raise ValueError(f"n_step_returns: n is {n}; expected at least 1.")
    targets = rewards + gamma * next_value
    for _ in range(n - 1):
        following = jnp.concatenate([targets[1:], next_value[-1:]], axis=0)
        targets = rewards + gamma * jnp.where(ended, next_value, following)
    return targets
