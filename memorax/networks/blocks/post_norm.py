"""PostNorm: layer normalisation after a block."""

from __future__ import annotations

import jax

from memorax.networks.blocks.pre_norm import LayerNormBlock
from memorax.networks.sequence_models.sequence_model import Carry


class PostNorm(LayerNormBlock):
    r"""``y = LayerNorm(f(x))``.

    ``PostNorm(Residual(f))`` is the original (post-LN) transformer's
    ``LN(x + f(x))``. The norm is built from the width of ``f``'s outputs,
    which is what ``in_features`` records.

    Shapes: inputs ``[B, T, F]``; outputs those of ``f``.

    Args:
      module: ``f``, a sequence model or a feed-forward module.
      epsilon: LayerNorm's epsilon (default 1e-6).
    """

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        carry, outputs = self.module(inputs, done, carry)
        self.build_once(outputs)
        return carry, self.norm(outputs)
