"""PositionOnlyPendulum and NoisyPositionOnlyPendulum (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces
from gymnax.environments.classic_control import pendulum

from memorax.environments.environment import Environment

WORST_REWARD = -16.2736044
"""Pendulum's lowest reward per step, ``-(π² + 0.1 · 8² + 0.001 · 2²)``, as POPGym rounds it."""


class PositionOnlyPendulum(Environment):
    """Pendulum (gymnax's dynamics, gymnasium's) observed without its angular velocity: ``[cos θ, sin θ]``.

    The action is a torque in ``Box(-2, 2, (1,))``. POPGym rescales Pendulum's
    reward ``r`` from ``[-16.27, 0]`` to ``[-1, 1]`` and divides it by the
    episode length: ``(2 r / 16.2736044 + 1) / max_steps``, so returns lie in
    ``[-1, 1]``. Episodes never terminate; ``max_steps`` steps truncate. In the
    noisy variant, Gaussian noise of standard deviation ``noise_std`` is added
    to the observation, clipped to ``[-1, 1]``.

    Levels (POPGym): PositionOnlyPendulum Easy / Medium / Hard ``max_steps``
    200 / 150 / 100; NoisyPositionOnlyPendulum ``max_steps=200`` with
    ``noise_std`` 0.1 / 0.2 / 0.3.
    """

    def __init__(self, max_steps: int = 200, noise_std: float = 0.0):
        self.pendulum = pendulum.Pendulum()
        self.max_steps = max_steps
        self.noise_std = noise_std

    @property
    def default_params(self) -> pendulum.EnvParams:
        return pendulum.EnvParams(max_steps_in_episode=self.max_steps)

    def action_space(self, params=None) -> spaces.Box:
        return spaces.Box(-2.0, 2.0, (1,), jnp.float32)

    def check_action(self, values: np.ndarray) -> None:
        if values.shape != (1,) or values.dtype.kind != "f" or not np.all(np.isfinite(values)):
            raise ValueError(
                f"{self.name}: action {values.tolist()} is outside the action space Box(-2, 2, (1,)); "
                "expected one finite float (torques beyond ±2 are clipped)."
            )

    def clip_action(self, action: jax.Array) -> jax.Array:
        return jnp.clip(jnp.asarray(action, jnp.float32), -2.0, 2.0)

    def observation_space(self, params=None):
        return spaces.Box(-1.0, 1.0, (2,), jnp.float32)

    def observe(self, key: jax.Array, state: pendulum.EnvState) -> jax.Array:
        obs = jnp.array([jnp.cos(state.theta), jnp.sin(state.theta)])
        if self.noise_std:
            obs = jnp.clip(obs + self.noise_std * jax.random.normal(key, (2,)), -1.0, 1.0)
        return obs

    def reset_env(self, key, params):
        state_key, noise_key = jax.random.split(key)
        _, state = self.pendulum.reset_env(state_key, params)
        return self.observe(noise_key, state), state

    def step_env(self, key, state, action, params):
        step_key, noise_key = jax.random.split(key)
        _, state, reward, _, _ = self.pendulum.step_env(step_key, state, self.clip_action(action), params)
        scaled = (reward - WORST_REWARD / 2) / (-WORST_REWARD / 2) / params.max_steps_in_episode
        return self.observe(noise_key, state), state, scaled, jnp.array(False), {}
