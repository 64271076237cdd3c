"""ObservationHistory: the base of wrappers that show the agent a window of recent observations."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments.wrappers.wrapper import Wrapper


@struct.dataclass
class ObservationHistoryState:
    env_state: Any
    window: jax.Array  # [length, *obs_shape]: o_{t-length+1}, ..., o_t, oldest first


def filled_window(obs: jax.Array, length: int) -> jax.Array:
    """``[length, *obs.shape]``: ``obs`` repeated, the window of an episode's first step."""
    return jnp.broadcast_to(obs, (length, *obs.shape))


def pushed_window(window: jax.Array, obs: jax.Array) -> jax.Array:
    """``window`` without its oldest observation and with ``obs`` as its newest."""
    return jnp.concatenate([window[1:], obs[None].astype(window.dtype)])


class ObservationHistory(Wrapper):
    """Keeps the last ``length`` observations of the running episode; the agent sees ``view(window)``.

    The window ``[length, *obs_shape]`` holds ``o_{t-length+1}, ..., o_t``,
    oldest first. An episode's first observation fills the whole window
    (nothing older belongs to the episode), at reset and at every auto-reset,
    so a window never mixes two episodes. ``info["final_observation"]`` is the
    view of the ended episode's window pushed with its final observation: what
    the agent would have seen at that step had the episode not been reset.
    Subclasses implement :meth:`view` and, if it changes shapes, ``observation_space``.
    """

    def __init__(self, env: Any, length: int):
        super().__init__(env)
        self.length = length

    def view(self, window: jax.Array) -> jax.Array:
        """What the agent observes, from the window ``[length, *obs_shape]``."""
        raise NotImplementedError

    def reset(self, key, params=None):
        obs, env_state = self.env.reset(key, params)
        window = filled_window(obs, self.length)
        return self.view(window), ObservationHistoryState(env_state, window)

    def step(self, key, state, action, params=None):
        obs, env_state, reward, terminated, truncated, info = self.env.step(key, state.env_state, action, params)
        done = terminated | truncated
        # The final observation only where the episode ended: elsewhere an inner wrapper's may differ from obs
        # (noise drawn apart, statistics of another step). Without auto-reset information obs is the last one.
        episode_window = pushed_window(state.window, jnp.where(done, info.get("final_observation", obs), obs))
        window = jnp.where(done, filled_window(obs, self.length), episode_window)
        if "final_observation" in info:
            info = {**info, "final_observation": self.view(episode_window)}
        return self.view(window), ObservationHistoryState(env_state, window), reward, terminated, truncated, info
