"""CNN: a convolutional encoder applied to the image of every step."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule


class CNN(LazyModule):
    r"""Convolutions ``h_{i+1} = act(conv_i(h_i))`` over each step's image, then flattened.

    With the defaults of the guide (``features=(32, 64, 64)``,
    ``kernel_sizes=(8, 4, 3)``, ``strides=(4, 2, 1)``, VALID padding) this is the
    Nature-DQN encoder: an 84x84 image becomes 7x7x64 = 3136 features.

    Shapes: inputs ``[B, T, H, W, C]`` (cast to float; scale pixels yourself),
    outputs ``[B, T, features]``.

    Args:
      features: channels of each convolution.
      kernel_sizes: square kernel size of each convolution.
      strides: stride of each convolution.
      activation: applied after every convolution (default ReLU).
      padding: ``"VALID"`` (default) or ``"SAME"``.
    """

    def __init__(
        self,
        features: Sequence[int],
        kernel_sizes: Sequence[int],
        strides: Sequence[int],
        *,
        activation: Callable[[jax.Array], jax.Array] = nnx.relu,
        padding: str = "VALID",
    ):
        if not len(features) == len(kernel_sizes) == len(strides):
            raise ValueError(
                f"CNN: features, kernel_sizes and strides have lengths {len(features)}, "
                f"{len(kernel_sizes)}, {len(strides)}; expected equal lengths."
            )
        self.features = tuple(features)
        self.kernel_sizes = tuple(kernel_sizes)
        self.strides = tuple(strides)
        self.activation = activation
        self.padding = padding

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        channels = (in_features,) + self.features
        self.convs = nnx.List(
            [
                nnx.Conv(
                    c_in,
                    c_out,
                    (k, k),
                    strides=(s, s),
                    padding=self.padding,
                    kernel_init=nnx.initializers.orthogonal(math.sqrt(2)),
                    rngs=rngs,
                )
                for c_in, c_out, k, s in zip(channels[:-1], channels[1:], self.kernel_sizes, self.strides)
            ]
        )

    def __call__(self, inputs: jax.Array) -> jax.Array:
        if inputs.ndim != 5:
            raise ValueError(
                f"CNN: inputs have shape {inputs.shape}; expected [batch, time, height, width, channels] (rank 5)."
            )
        self.build_once(inputs)
        x = inputs.reshape((-1,) + inputs.shape[2:]).astype(jnp.float32)
        for conv in self.convs:
            x = self.activation(conv(x))
        return x.reshape(inputs.shape[:2] + (-1,))
