"""FeatureExtractor: encodes what the agent sees into one feature vector per step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


def _as_features(name: str, x: jax.Array, batch_time: tuple[int, int]) -> jax.Array:
    """``[B, T]`` scalars become ``[B, T, 1]`` floats; ``[B, T, F]`` stays."""
    if x.shape[:2] != batch_time or x.ndim not in (2, 3):
        raise ValueError(
            f"FeatureExtractor: {name} has shape {x.shape}; expected {batch_time} or "
            f"{batch_time + ('features',)} (the observation's [batch, time])."
        )
    if name == "prev_action" and x.ndim == 2 and jnp.issubdtype(x.dtype, jnp.integer):
        raise ValueError(
            "FeatureExtractor: prev_action holds integer actions of shape "
            f"{x.shape}; pass them one-hot, e.g. jax.nn.one_hot(prev_action, action_dim)."
        )
    x = x.astype(jnp.float32)
    return x[..., None] if x.ndim == 2 else x


class FeatureExtractor(nnx.Module):
    """Concatenates the encodings of the observation, previous action, previous reward and done flag.

    ``features = concat[obs_enc(o_t), act_enc(a_{t-1}), rew_enc(r_{t-1}), done_enc(d_t)]``
    along the last axis; an extractor left as None leaves its input out,
    except the observation, which passes through unchanged.

    Inputs, all batch-major: ``observation [B, T, ...]``, ``done [B, T]``,
    ``prev_action [B, T, action_features]`` (one-hot for discrete actions),
    ``prev_reward [B, T]``. Output: ``[B, T, features]``.

    Args:
      observation_extractor: module for the observation (e.g. ``MLP``, ``CNN``).
      action_extractor: module for the previous action.
      reward_extractor: module for the previous reward.
      done_extractor: module for the done flag.
    """

    def __init__(
        self,
        observation_extractor: nnx.Module | None = None,
        action_extractor: nnx.Module | None = None,
        reward_extractor: nnx.Module | None = None,
        done_extractor: nnx.Module | None = None,
    ):
        self.observation_extractor = observation_extractor
        self.action_extractor = action_extractor
        self.reward_extractor = reward_extractor
        self.done_extractor = done_extractor

    def __call__(
        self,
        observation: jax.Array,
        done: jax.Array,
        prev_action: jax.Array | None = None,
        prev_reward: jax.Array | None = None,
    ) -> jax.Array:
        batch_time = observation.shape[:2]
        parts = [observation if self.observation_extractor is None else self.observation_extractor(observation)]
        extra = (
            ("prev_action", self.action_extractor, prev_action),
            ("prev_reward", self.reward_extractor, prev_reward),
            ("done", self.done_extractor, done),
        )
        for name, extractor, value in extra:
            if extractor is None:
                continue
            if value is None:
                raise ValueError(f"FeatureExtractor: it has a {name.removeprefix('prev_')} extractor but {name} is None.")
            parts.append(extractor(_as_features(name, value, batch_time)))
        for part in parts:
            if part.ndim != 3:
                raise ValueError(
                    f"FeatureExtractor: an extractor returned shape {part.shape}; expected "
                    "[batch, time, features] (rank 3): use CNN for images or MLP, which flattens."
                )
        return jnp.concatenate(parts, axis=-1)
