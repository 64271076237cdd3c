"""CartPole observed in part: StatelessCartPole, NoisyStatelessCartPole and VelocityOnlyCartPole (POPGym, Morad et al. 2023,
arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from gymnax.environments import spaces
from gymnax.environments.classic_control import cartpole

from memorax.environments.environment import Environment


class StatelessCartPole(Environment):
    """CartPole (gymnax's dynamics) observed without its velocities.

    The observation is ``[x, θ]`` (plus Gaussian noise of standard deviation
    ``noise_std``, clipped to the observation space, in the noisy variant).
    Every step earns ``1 / max_steps``; leaving the track or dropping the pole
    terminates; ``max_steps`` steps truncate. Returns lie in ``(0, 1]``.

    Levels (POPGym): StatelessCartPole Easy / Medium / Hard ``max_steps`` 200 /
    400 / 600; NoisyStatelessCartPole ``max_steps=200`` with ``noise_std``
    0.1 / 0.2 / 0.3.
    """

    def __init__(self, max_steps: int = 200, noise_std: float = 0.0):
        self.cartpole = cartpole.CartPole()
        self.max_steps = max_steps
        self.noise_std = noise_std

    @property
    def default_params(self) -> cartpole.EnvParams:
        return cartpole.EnvParams(max_steps_in_episode=self.max_steps)

    @property
    def num_actions(self) -> int:
        return 2

    def observation_space(self, params=None):
        params = params or self.default_params
        high = jnp.array([2 * params.x_threshold, 2 * params.theta_threshold_radians])
        return spaces.Box(-high, high, (2,), jnp.float32)

    def observe(self, key, state, action, params):
        space = self.observation_space(params)
        obs = jnp.array([state.x, state.theta])
        if self.noise_std:
            obs = jnp.clip(obs + self.noise_std * jax.random.normal(key, (2,)), space.low, space.high)
        return obs

    def reset_env(self, key, params):
        state_key, noise_key = jax.random.split(key)
        _, state = self.cartpole.reset_env(state_key, params)
        return self.observe(noise_key, state, None, params), state

    def step_env(self, key, state, action, params):
        action = self.clip_action(action)
        step_key, noise_key = jax.random.split(key)
        _, state, _, terminated, _ = self.cartpole.step_env(step_key, state, action, params)
        reward = jnp.array(1.0 / params.max_steps_in_episode)
        return self.observe(noise_key, state, action, params), state, reward, terminated, {}


class VelocityOnlyCartPole(StatelessCartPole):
    """CartPole (gymnax's dynamics) observed through its velocities only: ``[ẋ, θ̇]``, unbounded as in POPGym.

    As POPGym 1.0.7's ``VelocityOnlyCartPole`` does, the first observation of
    an episode is ``[x, θ]`` (its reset returns the positions); every later
    one is ``[ẋ, θ̇]``. Rewards, termination and levels are
    :class:`StatelessCartPole`'s: Easy / Medium / Hard ``max_steps`` 200 / 400 / 600.
    """

    def observation_space(self, params=None):
        return spaces.Box(-jnp.inf, jnp.inf, (2,), jnp.float32)

    def observe(self, key, state, action, params):
        return jnp.array([state.x_dot, state.theta_dot])

    def reset_env(self, key, params):
        state_key, _ = jax.random.split(key)
        _, state = self.cartpole.reset_env(state_key, params)
        return jnp.array([state.x, state.theta]), state
