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
      ``[batch, time, features]`` with ``time >= 1``, ``done`` ``[batch, time]``, and a carry
      given must have the structure, shapes and dtypes of
      ``initialize_carry(batch)`` (one of another batch size broadcast
      silently in some models, and failed deep inside JAX in others).

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
        if inputs.shape[1] == 0:  # the models failed six different ways, or returned empty outputs
            raise ValueError(f"{name}: inputs have shape {inputs.shape}, no steps; expected at least one step (time >= 1).")
        if done.shape != inputs.shape[:2]:
            raise ValueError(
                f"{name}: done has shape {done.shape}; expected [batch, time] = {inputs.shape[:2]}."
            )
        if not self.is_sequence_model:
            return (), self.model(inputs)
        if carry is None:
            carry = self.initialize_carry(inputs.shape[0])
        else:
            self._check_carry(carry, inputs.shape[0])
        return self.model(inputs, jnp.asarray(done, bool), carry)

    def _check_carry(self, carry: Carry, batch_size: int) -> None:
        """Raises a ValueError naming the leaf unless ``carry`` is shaped as ``initialize_carry(batch_size)``."""
        name = type(self.model).__name__
        expected = jax.eval_shape(lambda: self.initialize_carry(batch_size))  # abstract: nothing is computed
        got_leaves, got_tree = jax.tree_util.tree_flatten_with_path(carry)
        expected_leaves, expected_tree = jax.tree_util.tree_flatten_with_path(expected)
        if got_tree != expected_tree:
            raise ValueError(
                f"{name}: the carry has the structure {got_tree}; expected that of initialize_carry({batch_size}), "
                f"{expected_tree}: is it another model's carry?"
            )
        for (path, leaf), (_, want) in zip(got_leaves, expected_leaves, strict=True):
            shape, dtype = jnp.shape(leaf), jnp.result_type(leaf)
            if shape != want.shape or dtype != want.dtype:
                raise ValueError(
                    f"{name}: carry{jax.tree_util.keystr(path)} has shape {list(shape)} and dtype {dtype}; expected "
                    f"{list(want.shape)} and {want.dtype}, as initialize_carry({batch_size}) gives for inputs of batch {batch_size}."
                )


def as_sequence_model(module: nnx.Module) -> SequenceModel:
    """``module`` itself if it is a :class:`SequenceModel`, else wrapped as one."""
    return module if isinstance(module, SequenceModel) else SequenceModelWrapper(module)
