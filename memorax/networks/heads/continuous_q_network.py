"""ContinuousQNetwork: the value of a given continuous action."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule


class ContinuousQNetwork(LazyModule):
    r"""``Q(h, a) = [h, a] w + b``.

    The action comes through the network's head keyword arguments:
    ``network(observation, done, action=a)``.

    Shapes: inputs ``[B, T, F]``, ``action [B, T, action_dim]``; outputs ``[B, T]``.
    """

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        self.q = nnx.Linear(in_features, 1, rngs=rngs)

    def __call__(self, inputs: jax.Array, *, action: jax.Array) -> jax.Array:
        if action.shape[:2] != inputs.shape[:2] or action.ndim != 3:
            raise ValueError(
                f"ContinuousQNetwork: action has shape {action.shape}; expected "
                f"{inputs.shape[:2] + ('action_dim',)}."
            )
        x = jnp.concatenate([inputs, action.astype(inputs.dtype)], axis=-1)
        self.build_once(x)
        return self.q(x)[..., 0]
