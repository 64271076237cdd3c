"""ContinuousQNetwork: the value of a given continuous action."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.mlp import MLP


class ContinuousQNetwork(LazyModule):
    r"""``Q(h, a) = MLP([h, a]) w + b``, with ReLU hidden layers of widths ``features``.

    The action joins the features before the hidden layers, so that Q can
    peak inside the action range (as in DDPG, Lillicrap et al. 2016, where the
    action enters the second layer); ``features=()`` makes Q linear in the
    action, whose maximum then always lies on a bound.

    The action comes through the network's head keyword arguments:
    ``network(observation, done, action=a)``.

    Shapes: inputs ``[B, T, F]``, ``action [B, T, action_dim]``; outputs ``[B, T]``.

    Args:
      features: widths of the hidden layers over ``[h, a]`` (default one layer of 256).
    """

    def __init__(self, features: Sequence[int] = (256,)):
        self.hidden = MLP(features) if features else None

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        self.q = Linear(in_features, 1, rngs=rngs)

    def __call__(self, inputs: jax.Array, *, action: jax.Array) -> jax.Array:
        if action.shape[:2] != inputs.shape[:2] or action.ndim != 3:
            raise ValueError(
                f"ContinuousQNetwork: action has shape {action.shape}; expected "
                f"{inputs.shape[:2] + ('action_dim',)}."
            )
        x = jnp.concatenate([inputs, action.astype(inputs.dtype)], axis=-1)
        if self.hidden is not None:
            x = self.hidden(x)
        self.build_once(x)
        return self.q(x)[..., 0]
