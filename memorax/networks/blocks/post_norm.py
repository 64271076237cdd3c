"""PostNorm: layer normalisation after a block."""

from __future__ import annotations

import jax
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sequence_models.wrapper import as_sequence_model


class PostNorm(LazyModule, SequenceModel):
    r"""``y = LayerNorm(f(x))``.

    ``PostNorm(Residual(f))`` is the original (post-LN) transformer's
    ``LN(x + f(x))``. The norm is built from the width of ``f``'s outputs,
    which is what ``in_features`` records.

    Shapes: inputs ``[B, T, F]``; outputs those of ``f``.

    Args:
      module: ``f``, a sequence model or a feed-forward module.
      epsilon: LayerNorm's epsilon (default 1e-6).
    """

    def __init__(self, module: nnx.Module, *, epsilon: float = 1e-6):
        self.module = as_sequence_model(module)
        self.epsilon = epsilon

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        self.norm = nnx.LayerNorm(in_features, epsilon=self.epsilon, rngs=rngs)

    def initialize_carry(self, batch_size: int) -> Carry:
        return self.module.initialize_carry(batch_size)

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        carry, outputs = self.module(inputs, done, carry)
        self.build_once(outputs)
        return carry, self.norm(outputs)
