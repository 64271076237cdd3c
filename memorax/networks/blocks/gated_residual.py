"""GatedResidual: GTrXL's GRU-type gate in place of a residual connection."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sequence_models.wrapper import as_sequence_model


class GatedResidual(LazyModule, SequenceModel):
    r"""``x + f(x)`` replaced by a GRU-type gate of the stream ``x`` and the block's output ``y = f(x)``.

    Parisotto et al. (2020), "Stabilizing Transformers for Reinforcement Learning" (GTrXL), arXiv:1910.06764:

    .. math::

        r = \sigma(W_r y + U_r x), \quad
        z = \sigma(W_z y + U_z x - b_g), \quad
        \hat h = \tanh(W_h y + U_h (r \odot x)), \quad
        g(x, y) = (1 - z) \odot x + z \odot \hat h,

    with ``b_g = bias`` (default 2) at init, so the block starts close to the
    identity ``g ≈ x``, as the paper found helps. The matrices have no bias
    and NNX's default initialiser. GTrXL's layer is ``GatedResidual(PreNorm(f))``
    with a ReLU at ``f``'s end.

    Shapes: inputs ``[B, T, F]``; ``f`` must return ``[B, T, F]``.

    Args:
      module: ``f``, a sequence model or a feed-forward module.
      bias: the initial gate bias ``b_g``.
    """

    def __init__(self, module: nnx.Module, *, bias: float = 2.0):
        self.module = as_sequence_model(module)
        self.bias = bias

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        self.from_output = Linear(in_features, 3 * in_features, use_bias=False, rngs=rngs)  # W_r, W_z, W_h
        self.from_stream = Linear(in_features, 2 * in_features, use_bias=False, rngs=rngs)  # U_r, U_z
        self.from_reset_stream = Linear(in_features, in_features, use_bias=False, rngs=rngs)  # U_h
        self.gate_bias = nnx.Param(jnp.full((in_features,), self.bias, jnp.float32))  # strongly typed, as every parameter

    def initialize_carry(self, batch_size: int) -> Carry:
        return self.module.initialize_carry(batch_size)

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        carry, outputs = self.module(inputs, done, carry)
        if outputs.shape != inputs.shape:
            raise ValueError(
                f"GatedResidual: the wrapped module returned shape {outputs.shape}; expected the input shape "
                f"{inputs.shape} so that the two can be gated."
            )
        reset_y, update_y, candidate_y = jnp.split(self.from_output(outputs), 3, axis=-1)
        reset_x, update_x = jnp.split(self.from_stream(inputs), 2, axis=-1)
        reset = jax.nn.sigmoid(reset_y + reset_x)
        update = jax.nn.sigmoid(update_y + update_x - self.gate_bias[...])
        candidate = jnp.tanh(candidate_y + self.from_reset_stream(reset * inputs))
        return carry, (1 - update) * inputs + update * candidate
