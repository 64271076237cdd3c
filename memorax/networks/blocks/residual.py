"""Residual: adds a block's input to its output."""

from __future__ import annotations

import jax
from flax import nnx

from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sequence_models.wrapper import as_sequence_model


class Residual(SequenceModel):
    r"""``y = x + f(x)``, carrying ``f``'s carry (``()`` for a feed-forward ``f``).

    Shapes: inputs ``[B, T, F]``; ``f`` must return ``[B, T, F]``.

    Args:
      module: ``f``, a sequence model or a feed-forward module.
    """

    def __init__(self, module: nnx.Module):
        self.module = as_sequence_model(module)

    def initialize_carry(self, batch_size: int) -> Carry:
        return self.module.initialize_carry(batch_size)

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        carry, outputs = self.module(inputs, done, carry)
        if outputs.shape != inputs.shape:
            raise ValueError(
                f"Residual: the wrapped module returned shape {outputs.shape}; expected the input shape "
                f"{inputs.shape} so that the two can be added."
            )
        return carry, inputs + outputs
