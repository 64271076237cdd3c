"""Network: feature extractor, torso and head composed into one agent network."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks import lazy
from memorax.networks.sequence_models.sequence_model import Carry
from memorax.networks.sequence_models.wrapper import SequenceModelWrapper


class Network(nnx.Module):
    """``observation -> feature_extractor -> torso -> head -> output``.

    ``carry, output = network(observation, done, carry=None, prev_action=None,
    prev_reward=None, **head_kwargs)`` with batch-major inputs
    ``observation [B, T, ...]`` and ``done [B, T]`` (True where
    ``observation[b, t]`` starts an episode); ``carry=None`` is the initial carry.
    The carry is the torso's (``()`` without a torso); the output is the
    head's. A single step is ``T = 1``.

    Modules built without input sizes get their parameters from
    :meth:`init` (see :mod:`memorax.networks.lazy`). Modules shared between
    networks are shared objects: their parameters exist once and are built once.

    Args:
      feature_extractor: e.g. a :class:`FeatureExtractor`; None passes the
        observation through.
      torso: a sequence model or feed-forward module, wrapped in a
        :class:`~memorax.networks.sequence_models.SequenceModelWrapper` unless it is one; None passes features through.
      head: e.g. ``heads.Categorical(4)``.
    """

    def __init__(self, feature_extractor: nnx.Module | None = None, torso: nnx.Module | None = None, head: nnx.Module | None = None):
        if head is None:
            raise ValueError("Network: head is None; expected a head such as heads.Categorical(action_dim).")
        self.feature_extractor = feature_extractor
        if torso is not None and not isinstance(torso, SequenceModelWrapper):
            torso = SequenceModelWrapper(torso)
        self.torso = torso
        self.head = head

    def initialize_carry(self, batch_size: int) -> Carry:
        return () if self.torso is None else self.torso.initialize_carry(batch_size)

    def init(
        self,
        rngs: nnx.Rngs | int | jax.Array,
        observation: jax.Array,
        done: jax.Array,
        prev_action: jax.Array | None = None,
        prev_reward: jax.Array | None = None,
        **head_kwargs: Any,
    ) -> None:
        """Builds every lazy module from the example inputs' shapes (the first time), then draws every parameter from ``rngs``.

        Calling it again with other rngs draws every parameter again; modules
        shared with another network are drawn again too, and stay shared.

        Args:
          rngs: an ``nnx.Rngs``, an integer seed or a key.
          observation, done, prev_action, prev_reward, head_kwargs: example
            inputs, as for ``__call__``; only their shapes and dtypes matter.
        """
        lazy.init(self, rngs, observation, done, None, prev_action, prev_reward, **head_kwargs)

    def __call__(
        self,
        observation: jax.Array,
        done: jax.Array,
        carry: Carry | None = None,
        prev_action: jax.Array | None = None,
        prev_reward: jax.Array | None = None,
        **head_kwargs: Any,
    ) -> tuple[Carry, Any]:
        carry, features = self.encode(observation, done, carry, prev_action, prev_reward)
        return carry, self.head(features, **head_kwargs)

    def encode(
        self,
        observation: jax.Array,
        done: jax.Array,
        carry: Carry | None = None,
        prev_action: jax.Array | None = None,
        prev_reward: jax.Array | None = None,
    ) -> tuple[Carry, jax.Array]:
        """Everything before the head: ``(carry, features [B, T, H])``, the head's input.

        Two networks that share their feature extractor and torso (the guide's
        parameter sharing) compute them once with this and apply each head.
        """
        observation, done = jnp.asarray(observation), jnp.asarray(done)
        if observation.ndim < 3:
            raise ValueError(
                f"Network: observation has shape {observation.shape}; expected [batch, time, ...] "
                "(rank >= 3; a single step is time = 1)."
            )
        if done.shape != observation.shape[:2]:
            raise ValueError(
                f"Network: done has shape {done.shape}; expected [batch, time] = {observation.shape[:2]}."
            )
        if self.feature_extractor is None:
            features = observation
        else:
            features = self.feature_extractor(observation, done, prev_action, prev_reward)
        if self.torso is not None:
            return self.torso(features, done, carry)
        return (), features
