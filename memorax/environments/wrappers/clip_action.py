"""ClipAction: continuous actions clipped into the action space's bounds."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from gymnax.environments import spaces

from memorax.environments.wrappers.wrapper import Wrapper


class ClipAction(Wrapper):
    """Passes ``clip(a, low, high)`` of a ``Box`` action space to the wrapped environment.

    Any real action is then safe, e.g. an unsquashed Gaussian sample of PPO.
    The action space stays the wrapped one, bounds included: algorithms read
    them (SAC scales its tanh into them), and they are where actions land.
    """

    def __init__(self, env: Any):
        space = env.action_space(env.default_params)
        if not isinstance(space, spaces.Box):
            raise ValueError(f"ClipAction: the action space is {space}; expected a Box (continuous actions).")
        super().__init__(env)

    def step(self, key, state, action, params=None):
        space = self.env.action_space(params)
        return self.env.step(key, state, jnp.clip(action, space.low, space.high), params)
