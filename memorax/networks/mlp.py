"""MLP: a stack of dense layers applied to the last axis of every step."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sizes import require_sizes


class MLP(LazyModule):
    r"""Dense layers ``h_{i+1} = act(h_i W_i + b_i)`` over the features of every step.

    With ``layer_norm``, ``h_{i+1} = act(LN(h_i W_i + b_i))``: the normalisation
    PQN relies on to train without a target network (Gallici et al. 2024).

    Shapes: inputs ``[B, T, *features]`` (trailing axes are flattened), outputs
    ``[B, T, features[-1]]``.

    Args:
      features: width of each layer.
      activation: applied after every layer (default ReLU).
      activate_final: whether the last layer is activated too (default True,
        as a feature extractor wants).
      kernel_init: default orthogonal with gain sqrt(2), the usual choice for
        ReLU layers in PPO.
      bias_init: default zeros.
      layer_norm: normalise every layer's output before its activation (default False).
    """

    def __init__(
        self,
        features: Sequence[int],
        *,
        activation: Callable[[jax.Array], jax.Array] = nnx.relu,
        activate_final: bool = True,
        kernel_init: nnx.Initializer = nnx.initializers.orthogonal(math.sqrt(2)),
        bias_init: nnx.Initializer = nnx.initializers.zeros_init(),
        layer_norm: bool = False,
    ):
        require_sizes("MLP", **{f"features[{i}]": width for i, width in enumerate(features)})
        self.features = tuple(features)
        self.activation = activation
        self.activate_final = activate_final
        self.kernel_init = kernel_init
        self.bias_init = bias_init
        self.layer_norm = layer_norm

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        sizes = (in_features,) + self.features
        self.layers = nnx.List(
            [
                Linear(a, b, kernel_init=self.kernel_init, bias_init=self.bias_init, rngs=rngs)
                for a, b in zip(sizes[:-1], sizes[1:])
            ]
        )
        if self.layer_norm:
            self.norms = nnx.List([nnx.LayerNorm(size, rngs=rngs) for size in self.features])

    def __call__(self, inputs: jax.Array) -> jax.Array:
        if inputs.ndim < 3:
            raise ValueError(f"MLP: inputs have shape {inputs.shape}; expected [batch, time, features] (rank >= 3).")
        x = inputs.reshape(inputs.shape[:2] + (-1,))
        self.build_once(x)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if self.layer_norm:
                x = self.norms[i](x)
            if self.activate_final or i < len(self.layers) - 1:
                x = self.activation(x)
        return x
