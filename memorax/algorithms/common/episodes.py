"""Episode statistics: their means during training and a greedy or sampled evaluation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import distrax
import jax
import jax.numpy as jnp

from memorax.algorithms.common.axes import remove_time_axis
from memorax.algorithms.common.vector_env import VectorEnv, call_on_step
from memorax.networks import Network


def episode_metrics(episode: dict) -> dict:
    """Mean return and length of the episodes that ended in a rollout (NaN when none did), and their count."""
    episodes = episode["done"].sum()
    mean = lambda x: jnp.where(episodes > 0, (x * episode["done"]).sum() / episodes, jnp.nan)  # noqa: E731
    return dict(episode_return=mean(episode["return"]), episode_length=mean(episode["length"]), episodes=episodes)


def epsilon_greedy(epsilon: float | jax.Array) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """A ``choose_action`` for Q-networks: ε-greedy over one step's Q-values ``[envs, 1, actions]`` (greedy at ε = 0)."""
    return lambda q, key: distrax.EpsilonGreedy(remove_time_axis(q), epsilon).sample(seed=key)


def play_episodes(
    vector_env: VectorEnv, network: Network, choose_action: Callable[[Any, jax.Array], jax.Array], key: jax.Array, num_episodes: int
):
    """Plays one episode in each of ``num_episodes`` environments; traceable.

    ``choose_action(output, key)`` maps the network's output on one step
    (time axis kept) to actions ``[num_episodes]``. Steps until every episode
    has ended or ``max_steps_in_episode`` steps have passed, so long time
    limits cost only the steps played. Returns whether each episode ended
    within ``max_steps_in_episode``, and its return and length.
    """
    reset_key, run_key = jax.random.split(key)
    step_keys = jax.random.split(run_key, vector_env.max_steps_in_episode)
    env_state, inputs = vector_env.reset(reset_key, num_episodes)
    zeros = jnp.zeros(num_episodes)
    start = (0, inputs, env_state, network.initialize_carry(num_episodes), jnp.zeros(num_episodes, bool), zeros, zeros)

    def playing(carry):
        t, *_, finished, _, _ = carry
        return (t < len(step_keys)) & ~finished.all()

    def step(carry):
        t, inputs, env_state, network_carry, finished, returns, lengths = carry
        act_key, env_key = jax.random.split(step_keys[t])
        network_carry, output = call_on_step(network, network_carry, inputs)
        env_state, inputs, _, terminated, truncated, info = vector_env.step(env_key, env_state, choose_action(output, act_key))
        first = (terminated | truncated) & ~finished
        returns = jnp.where(first, info["episode"]["return"], returns)
        lengths = jnp.where(first, info["episode"]["length"], lengths)
        return t + 1, inputs, env_state, network_carry, finished | first, returns, lengths

    *_, finished, returns, lengths = jax.lax.while_loop(playing, step, start)
    return finished, returns, lengths


def summarize_evaluation(algorithm: str, finished: jax.Array, returns: jax.Array, lengths: jax.Array) -> dict:
    """Evaluation statistics; raises if an episode did not end."""
    if not bool(finished.all()):
        raise RuntimeError(f"{algorithm}.evaluate: some episodes did not end within env_params.max_steps_in_episode.")
    return dict(mean_return=float(returns.mean()), std_return=float(returns.std()), mean_length=float(lengths.mean()), returns=returns)
