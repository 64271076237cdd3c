"""Stack: blocks applied in sequence, each with its own carry."""

from __future__ import annotations

from collections.abc import Sequence

import jax
from flax import nnx

from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sequence_models.wrapper import as_sequence_model


class Stack(SequenceModel):
    r"""``y = f_n(... f_1(x))``, threading one carry per block.

    The carry is a tuple with one entry per block, ``()`` for feed-forward
    blocks. A Stack is itself a sequence model: it can be a torso or a block.

    Shapes: inputs ``[B, T, F]``; outputs those of the last block.

    Args:
      blocks: sequence models or feed-forward modules.
    """

    def __init__(self, blocks: Sequence[nnx.Module]):
        if not blocks:
            raise ValueError("Stack: blocks is empty; expected at least one block.")
        self.blocks = nnx.List([as_sequence_model(block) for block in blocks])

    def initialize_carry(self, batch_size: int) -> Carry:
        return tuple(block.initialize_carry(batch_size) for block in self.blocks)

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        x, next_carry = inputs, []
        for block, block_carry in zip(self.blocks, carry, strict=True):
            block_carry, x = block(x, done, block_carry)
            next_carry.append(block_carry)
        return tuple(next_carry), x
