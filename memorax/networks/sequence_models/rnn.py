"""RNN: any Flax NNX recurrent cell as a sequence model with resets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel


class RNN(SequenceModel):
    """Runs an ``nnx`` recurrent cell over time, resetting its carry at episode starts.

    For each step t: ``c = initial if done_t else c_{t-1}``, then
    ``c_t, y_t = cell(c, x_t)``.

    Args:
      cell: an eagerly built ``nnx.RNNCellBase`` (``LSTMCell``, ``GRUCell``,
        ``OptimizedLSTMCell``, ``SimpleCell``); its ``in_features`` must equal
        the last axis of the inputs.
    """

    def __init__(self, cell: nnx.RNNCellBase):
        self.cell = cell

    def initialize_carry(self, batch_size: int) -> Carry:
        # A fixed key: the initial carry must be the same at every reset.
        return self.cell.initialize_carry((batch_size, self.cell.in_features), rngs=nnx.Rngs(0))

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        if inputs.shape[-1] != self.cell.in_features:
            raise ValueError(
                f"RNN({type(self.cell).__name__}): inputs have shape {inputs.shape}; expected "
                f"last axis {self.cell.in_features} (the cell's in_features)."
            )
        initial = self.initialize_carry(inputs.shape[0])

        def step(carry, xs):
            x, reset = xs
            carry = jax.tree.map(lambda c0, c: jnp.where(reset[:, None], c0, c), initial, carry)
            return self.cell(carry, x)

        time_major = (jnp.swapaxes(inputs, 0, 1), jnp.swapaxes(done, 0, 1))
        carry, outputs = jax.lax.scan(step, carry, time_major)
        return carry, jnp.swapaxes(outputs, 0, 1)
