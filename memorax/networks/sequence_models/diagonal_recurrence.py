"""DiagonalRecurrence: the base for a sequence model whose memory is a diagonal linear recurrence driven by the input."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.networks.lazy import LazyModule
from memorax.networks.sequence_models.linear_recurrence import run_recurrence
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel


class DiagonalRecurrence(LazyModule, SequenceModel):
    r"""A memory ``h_t = a_t ⊙ h_{t-1} + b_t`` whose ``a_t`` and ``b_t`` depend on the input alone.

    .. math::

        (a_t, b_t) = \mathrm{decay\_and\_input}(x_t), \quad
        h_t = a_t \odot h_{t-1} + b_t \ (h_{t-1} = 0 \text{ where } done_t), \quad
        y_t = \mathrm{readout}(h_t, x_t).

    A subclass creates its parameters in ``build(in_features, rngs)`` and
    defines :meth:`decay_and_input` (and :meth:`readout`, by default
    ``y_t = h_t``); it sets ``state_shape`` and ``state_dtype`` in its
    constructor. Everything else comes from here: a whole sequence is one
    associative scan that resets exactly at episode starts, a single step is
    the plain update, the carry is ``h`` (zero at a reset), and the model is
    lazy like the built-in ones. ``memorax.testing.check_sequence_model``
    checks a subclass. MinGRU, MinLSTM and LRU are built on it.

    Shapes: inputs ``[B, T, F]``; ``a`` and ``b`` ``[B, T, *state_shape]``;
    carry ``[B, *state_shape]``.
    """

    state_shape: tuple[int, ...]
    state_dtype: jnp.dtype = jnp.float32

    def decay_and_input(self, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(a, b)``, each ``[B, T, *state_shape]``, from inputs ``[B, T, F]``."""
        raise NotImplementedError

    def readout(self, h: jax.Array, inputs: jax.Array) -> jax.Array:
        """Outputs ``[B, T, hidden]`` from the states ``h [B, T, *state_shape]`` and the inputs."""
        return h

    def initialize_carry(self, batch_size: int) -> Carry:
        return jnp.zeros((batch_size, *self.state_shape), self.state_dtype)

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        a, b = self.decay_and_input(inputs)
        h = run_recurrence(a, b, done, carry)
        return h[:, -1], self.readout(h, inputs)
