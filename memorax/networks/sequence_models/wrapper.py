"""SequenceModelWrapper: the adapter that turns any module into a torso."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel


class SequenceModelWrapper(SequenceModel):
    """Makes ``model`` a torso with the ``(inputs, done, carry=None)`` interface.

    What it adds:

    - a feed-forward module (``MLP``, ``FFN``, any ``x -> y`` module whose parameters
      are built lazily, see :func:`~memorax.networks.init`) is
      applied to every step independently and carries ``()``;
    - ``carry=None`` stands for ``initialize_carry(batch_size)``;
    - the inputs are checked before anything runs: ``inputs`` must be
      ``[batch, time, features]`` and ``done`` ``[batch, time]``.

    A :class:`SequenceModel` passed in keeps its own carry and reset behaviour.

    Args:
      model: a :class:`SequenceModel` or a feed-forward module.
    """

    def __init__(self, model: nnx.Module):
        self.model = model

    @property
    def is_sequence_model(self) -> bool:
        return isinstance(self.model, SequenceModel)

    def initialize_carry(self, batch_size: int) -> Carry:
        if self.is_sequence_model:
            return self.model.initialize_carry(batch_size)
        return ()

    def __call__(
        self, inputs: jax.Array, done: jax.Array, carry: Carry | None = None
    ) -> tuple[Carry, jax.Array]:
        name = type(self.model).__name__
        if inputs.ndim != 3:
            raise ValueError(
                f"{name}: inputs have shape {inputs.shape}; expected [batch, time, features] (rank 3)."
            )
        if done.shape != inputs.shape[:2]:
            raise ValueError(
                f"{name}: done has shape {done.shape}; expected [batch, time] = {inputs.shape[:2]}."
            )
        if not self.is_sequence_model:
            return (), self.model(inputs)
        if carry is None:
            carry = self.initialize_carry(inputs.shape[0])
        return self.model(inputs, jnp.asarray(done, bool), carry)


def as_sequence_model(module: nnx.Module) -> SequenceModel:
    """``module`` itself if it is a :class:`SequenceModel`, else wrapped as one."""
    return module if isinstance(module, SequenceModel) else SequenceModelWrapper(module)
