"""CNN: a convolutional encoder applied to the image of every step."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

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
                    conv_general_dilated=convolve,
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


NHWC = ("NHWC", "HWIO", "NHWC")


def convolve(
    inputs: jax.Array,
    kernel: jax.Array,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: lax.ConvDimensionNumbers | None = None,
    feature_group_count: int = 1,
    precision: lax.PrecisionLike = None,
    **others: object,
) -> jax.Array:
    """``lax.conv_general_dilated`` for the CNN's convolutions (2-D, NHWC, no dilation, one group), with a gradient fast on CPU.

    inputs ``[N, H, W, in]``, kernel ``[kh, kw, in, out]``; ``padding`` is ``"VALID"``, ``"SAME"``,
    ``"SAME_LOWER"`` or pairs, applied as explicit zeros. The CNN hands it to ``nnx.Conv`` as
    ``conv_general_dilated``, which calls it with lax's arguments; any other case raises a ValueError.

    The gradient is the one JAX derives, written out as convolutions in the NHWC/HWIO layout: XLA:CPU runs
    JAX's own (whose operands it must transpose first) through its fast convolution kernels only outside
    loops, and about 12 times slower inside ``lax.scan``, as in PPO's epochs (jaxlib 0.10;
    ``bench/pixels.py``). Being a ``jax.custom_vjp``, it has no forward-mode derivative (``jax.jvp``).
    """
    unsupported = {name: value for name, value in others.items() if value is not None}
    dilated = any(d != 1 for d in (*(lhs_dilation or ()), *(rhs_dilation or ())))
    standard = lax.conv_dimension_numbers(inputs.shape, kernel.shape, NHWC) if inputs.ndim == 4 else None
    if inputs.ndim != 4 or dilated or feature_group_count != 1 or unsupported or dimension_numbers not in (None, standard):
        raise ValueError(
            f"convolve: inputs of shape {inputs.shape}, lhs_dilation {lhs_dilation}, rhs_dilation {rhs_dilation}, "
            f"feature_group_count {feature_group_count}, dimension numbers {dimension_numbers}, other arguments "
            f"{unsupported}; expected [N, H, W, C] inputs, NHWC, dilations of 1, one group and no others."
        )
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(inputs.shape[1:3], kernel.shape[:2], window_strides, padding)
    inputs = jnp.pad(inputs, ((0, 0), *padding, (0, 0)))
    return _valid_convolution(inputs, kernel, tuple(window_strides), precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _valid_convolution(inputs: jax.Array, kernel: jax.Array, strides: tuple[int, int], precision: lax.PrecisionLike) -> jax.Array:
    return lax.conv_general_dilated(inputs, kernel, strides, "VALID", dimension_numbers=NHWC, precision=precision)


def _forward(inputs: jax.Array, kernel: jax.Array, strides: tuple[int, int], precision: lax.PrecisionLike):
    return _valid_convolution(inputs, kernel, strides, precision), (inputs, kernel)


def _backward(strides: tuple[int, int], precision: lax.PrecisionLike, residuals: tuple[jax.Array, jax.Array], grad: jax.Array):
    r"""With ``y[n, i, j, o] = \sum x[n, s_0 i + a, s_1 j + b, c] k[a, b, c, o]``: ``dx`` is ``grad``, dilated by
    the strides, convolved with the flipped kernel; ``dk`` is ``x`` convolved with ``grad`` dilated by the strides,
    the batch playing the part of the channels. Rows and columns a VALID convolution never reads get zero."""
    inputs, kernel = residuals
    kh, kw = kernel.shape[:2]
    unread_rows = inputs.shape[1] - (grad.shape[1] - 1) * strides[0] - kh
    unread_cols = inputs.shape[2] - (grad.shape[2] - 1) * strides[1] - kw
    flipped = jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)
    full = ((kh - 1, kh - 1 + unread_rows), (kw - 1, kw - 1 + unread_cols))
    d_inputs = lax.conv_general_dilated(grad, flipped, (1, 1), full, lhs_dilation=strides, dimension_numbers=NHWC, precision=precision)
    read = ((0, -unread_rows), (0, -unread_cols))
    d_kernel = lax.conv_general_dilated(
        inputs.transpose(3, 1, 2, 0), grad.transpose(1, 2, 0, 3), (1, 1), read, rhs_dilation=strides,
        dimension_numbers=NHWC, precision=precision,
    )  # fmt: skip
    return d_inputs, d_kernel.transpose(1, 2, 0, 3)


_valid_convolution.defvjp(_forward, _backward)
