"""FrameStack: the last ``num_frames`` observations, concatenated on their last axis."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import spaces

from memorax.environments.wrappers.observation_history import ObservationHistory


class FrameStack(ObservationHistory):
    """Shows ``concat[o_{t-n+1}, ..., o_t]`` along the last axis, oldest first, with ``n = num_frames``.

    Flat observations ``[F]`` become ``[n F]``; images ``[H, W, C]`` become
    ``[H, W, n C]``: frames stacked as channels, the layout a channels-last
    ``CNN`` reads (as DQN's Atari frame stacks). The first ``n - 1`` steps
    of an episode repeat its reset observation in the older slots, at reset
    and after every auto-reset, so a stack never mixes two episodes.
    ``info["final_observation"]`` is the stack ending with the ended
    episode's final observation. The observation space's bounds are the
    wrapped ones repeated ``n`` times along the last axis.
    """

    def __init__(self, env: Any, num_frames: int):
        if not isinstance(num_frames, int) or num_frames < 1:
            raise ValueError(f"FrameStack: num_frames is {num_frames!r}; expected an integer >= 1.")
        space = env.observation_space(env.default_params)
        if not isinstance(space, spaces.Box) or len(space.shape) < 1:
            raise ValueError(
                f"FrameStack: the observation space is {space} of shape {getattr(space, 'shape', None)}; "
                "expected a Box with at least one axis to concatenate on."
            )
        super().__init__(env, length=num_frames)
        self.num_frames = num_frames

    def view(self, window: jax.Array) -> jax.Array:
        return jnp.concatenate(list(window), axis=-1)

    def observation_space(self, params=None) -> spaces.Box:
        space = self.env.observation_space(params)
        low = jnp.broadcast_to(space.low, space.shape)
        high = jnp.broadcast_to(space.high, space.shape)
        stacked_low = jnp.concatenate([low] * self.num_frames, axis=-1)
        stacked_high = jnp.concatenate([high] * self.num_frames, axis=-1)
        return spaces.Box(stacked_low, stacked_high, stacked_low.shape, space.dtype)
