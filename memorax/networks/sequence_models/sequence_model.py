"""The interface every torso follows."""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

Carry = Any
"""A pytree of arrays whose leaves have the batch as leading axis."""


class SequenceModel(nnx.Module):
    """Maps a batch of sequences and a carry to outputs and the next carry.

    ``carry, outputs = model(inputs, done, carry)`` with

    - ``inputs``: ``[batch, time, features]``;
    - ``done``: bool ``[batch, time]``; where ``done[b, t]`` is True the memory is
      reset to ``initialize_carry`` before step ``t`` is processed;
    - ``carry``: the memory after the previous call (``initialize_carry(batch)``
      at the start);
    - ``outputs``: ``[batch, time, hidden]``; the returned carry is the memory
      after the last step.

    Processing ``T`` steps at once equals processing them one call at a time.
    """

    def initialize_carry(self, batch_size: int) -> Carry:
        """The memory at an episode's start, for ``batch_size`` sequences."""
        raise NotImplementedError

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        """``(carry, outputs)``: inputs ``[batch, time, features]``, done ``[batch, time]`` → outputs ``[batch, time, hidden]``."""
        raise NotImplementedError
