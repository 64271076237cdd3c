"""Sequences to diagnose a network on: what it reads over steps of an environment, and the environment's states."""

from __future__ import annotations

from typing import Any

import distrax
import jax
import jax.numpy as jnp

from memorax.algorithms.common.axes import remove_time_axis, swap_batch_time
from memorax.algorithms.common.vector_env import StepInputs, VectorEnv, call_on_step
from memorax.networks import Network


def sampled_action(output: Any, key: jax.Array) -> jax.Array:
    """The action a network's output on one step (time axis kept) chooses: a sample of a policy's distribution, or the
    action of the largest Q-value."""
    if isinstance(output, distrax.Distribution):
        return remove_time_axis(output.sample(seed=key))
    return jnp.argmax(remove_time_axis(output), axis=-1)


def rollout_with_states(
    env, env_params, key: jax.Array, num_envs: int, num_steps: int, policy: Network | None = None
) -> tuple[StepInputs, Any]:
    """What a network reads over ``num_steps`` steps of ``num_envs`` environments, and the environment's state at each step
    (the state the step's observation shows).

    ``policy`` acts (:func:`sampled_action` of its output, from its initial
    carry); without one, actions are uniformly random. Returns
    :class:`~memorax.algorithms.common.vector_env.StepInputs` and states with
    leaves ``[num_envs, num_steps, ...]``; ``done`` is True at each episode's
    first step (the first step of every sequence included).
    """
    vector_env = VectorEnv(env, env_params, "rollout_with_states")
    space = env.action_space(env_params)
    reset_key, key = jax.random.split(key)
    env_state, inputs = vector_env.reset(reset_key, num_envs)
    carry = policy.initialize_carry(num_envs) if policy is not None else None

    def step(loop, key):
        env_state, inputs, carry = loop
        action_key, step_key = jax.random.split(key)
        if policy is None:
            action = jax.vmap(space.sample)(jax.random.split(action_key, num_envs))
        else:
            carry, output = call_on_step(policy, carry, inputs)
            action = sampled_action(output, action_key)
        next_env_state, next_inputs, *_ = vector_env.step(step_key, env_state, action)
        return (next_env_state, next_inputs, carry), (inputs, env_state.env_state)

    _, steps = jax.jit(lambda keys: jax.lax.scan(step, (env_state, inputs, carry), keys))(jax.random.split(key, num_steps))
    return swap_batch_time(steps)


def random_rollout(env, env_params, key: jax.Array, num_envs: int, num_steps: int) -> StepInputs:
    """What a network reads over ``num_steps`` steps of ``num_envs`` environments acting uniformly at random
    (:func:`rollout_with_states` without a policy, without the states)."""
    return rollout_with_states(env, env_params, key, num_envs, num_steps)[0]
