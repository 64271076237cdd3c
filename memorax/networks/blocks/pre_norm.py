"""PreNorm: layer normalisation in front of a block."""

from __future__ import annotations

import jax
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sequence_models.wrapper import as_sequence_model


class LayerNormBlock(LazyModule, SequenceModel):
    """A block ``f`` with a LayerNorm next to it, built from the width the norm reads; :class:`PreNorm` and :class:`PostNorm` place it."""

    def __init__(self, module: nnx.Module, *, epsilon: float = 1e-6):
        self.module = as_sequence_model(module)
        self.epsilon = epsilon

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        self.norm = nnx.LayerNorm(in_features, epsilon=self.epsilon, rngs=rngs)

    def initialize_carry(self, batch_size: int) -> Carry:
        return self.module.initialize_carry(batch_size)


class PreNorm(LayerNormBlock):
    r"""``y = f(LayerNorm(x))``.

    Composition is literal: ``PreNorm(Residual(f))`` computes
    ``LN(x) + f(LN(x))``, as the guide's Stack writes it; the pre-LN
    transformer form ``x + f(LN(x))`` is ``Residual(PreNorm(f))``.

    Shapes: inputs ``[B, T, F]``; outputs those of ``f``.

    Args:
      module: ``f``, a sequence model or a feed-forward module.
      epsilon: LayerNorm's epsilon (default 1e-6).
    """

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        return self.module(self.norm(inputs), done, carry)
