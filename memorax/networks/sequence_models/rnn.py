"""RNN: a Flax NNX recurrent cell as a sequence model with resets; GRU and LSTM build theirs lazily."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.sequence_models.gru_scan import gru_scan, standard_gru_weights
from memorax.networks.sequence_models.lstm_scan import lstm_scan, standard_lstm_weights
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sizes import require_sizes


def _cell_factory(cell: nnx.RNNCellBase) -> Callable[..., nnx.RNNCellBase]:
    """``(in_features, rngs=) -> cell`` making cells like ``cell``: its class, width and the options it keeps.

    NNX cells keep their activations, dtypes and carry initialiser as
    attributes but not their kernel and bias initialisers, so a cell made
    again uses its class's default initialisers.
    """
    keywords = inspect.signature(type(cell).__init__).parameters
    kept = {name: getattr(cell, name) for name in keywords if name not in ("self", "in_features", "rngs") and hasattr(cell, name)}
    return functools.partial(type(cell), **kept)


class RNN(LazyModule, SequenceModel):
    """Runs an ``nnx`` recurrent cell over time, resetting its carry at episode starts.

    For each step t: ``c = initial if done_t else c_{t-1}``, then
    ``c_t, y_t = cell(c, x_t)``. NNX's ``GRUCell``, ``LSTMCell`` and
    ``OptimizedLSTMCell`` with their default gates run through
    :func:`~memorax.networks.sequence_models.gru_scan.gru_scan` and
    :func:`~memorax.networks.sequence_models.lstm_scan.lstm_scan` instead: the
    same values, about twice as fast to train on a CPU.

    Shapes: inputs ``[B, T, in_features]``, outputs ``[B, T, hidden_features]``;
    the carry is the cell's (``[B, hidden]``, or ``(c, h)`` for LSTMs).

    ``RNN(cell)`` is built at once, with the cell's parameters; ``init`` draws
    them again from its key like every other parameter, making a cell of the
    same class, width and options (activations, dtypes, carry initialiser)
    with the class's default kernel and bias initialisers. For other
    initialisers, build the cell lazily: ``GRU(64, kernel_init=...)``.

    Args:
      cell: an eagerly built ``nnx.RNNCellBase`` (``LSTMCell``, ``GRUCell``,
        ``OptimizedLSTMCell``, ``SimpleCell``); its ``in_features`` must equal
        the last axis of the inputs.
    """

    def __init__(self, cell: nnx.RNNCellBase):
        self.make_cell = _cell_factory(cell)
        self.cell = cell
        self.in_features = cell.in_features

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        self.cell = self.make_cell(in_features, rngs=rngs)

    def initialize_carry(self, batch_size: int) -> Carry:
        # The carry's shape does not depend on the input width: before the cell is built, a cell of width 1 tells it.
        cell = self.cell if self.in_features is not None else self.make_cell(1, rngs=nnx.Rngs(0))
        # A fixed key: the initial carry must be the same at every reset.
        return cell.initialize_carry((batch_size, cell.in_features), rngs=nnx.Rngs(0))

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        initial = self.initialize_carry(inputs.shape[0])
        time_major = (jnp.swapaxes(inputs, 0, 1), jnp.swapaxes(done, 0, 1))
        for weights_of, fused_scan in ((standard_gru_weights, gru_scan), (standard_lstm_weights, lstm_scan)):
            weights = weights_of(self.cell)
            if weights is not None:
                outputs, carry = fused_scan(*time_major, carry, initial, *weights)
                return carry, jnp.swapaxes(outputs, 0, 1)

        def step(carry, xs):
            x, reset = xs
            carry = jax.tree.map(lambda c0, c: jnp.where(reset.reshape(-1, *[1] * (c.ndim - 1)), c0, c), initial, carry)
            return self.cell(carry, x)

        carry, outputs = jax.lax.scan(step, carry, time_major)
        return carry, jnp.swapaxes(outputs, 0, 1)


class _LazyRNN(RNN):
    """An RNN whose cell, of class ``cell_type``, is made by ``build`` from the width of the first input."""

    cell_type: type[nnx.RNNCellBase]

    def __init__(self, hidden_dim: int, **cell_options: Any):
        require_sizes(type(self).__name__, hidden_dim=hidden_dim)
        self.make_cell = functools.partial(self.cell_type, hidden_features=hidden_dim, **cell_options)
        self.hidden_dim = hidden_dim


class GRU(_LazyRNN):
    r"""A GRU (Cho et al. 2014) built from the width of its first input: ``RNN(nnx.GRUCell(F, hidden_dim))``.

    .. math::

        r = \sigma(W_{ir} x + W_{hr} h + b_r), \quad
        z = \sigma(W_{iz} x + W_{hz} h + b_z), \quad
        n = \tanh(W_{in} x + r \odot (W_{hn} h + b_n)), \quad
        h' = (1 - z) \odot n + z \odot h.

    Args:
      hidden_dim: width of the hidden state and the outputs.
      cell_options: passed to ``nnx.GRUCell`` (``kernel_init``, ``dtype``, ...).
    """

    cell_type = nnx.GRUCell


class LSTM(_LazyRNN):
    r"""An LSTM (Hochreiter & Schmidhuber 1997) built from the width of its first input, with NNX's fused cell.

    .. math::

        i, f, o = \sigma(W_{i,f,o} [x, h] + b_{i,f,o}), \quad
        g = \tanh(W_g [x, h] + b_g), \quad
        c' = f \odot c + i \odot g, \quad
        h' = o \odot \tanh(c'),

    and the carry is ``(c, h)``. ``nnx.OptimizedLSTMCell`` computes the four
    gates in one matrix product.

    Args:
      hidden_dim: width of the hidden state and the outputs.
      cell_options: passed to ``nnx.OptimizedLSTMCell`` (``kernel_init``, ``dtype``, ...).
    """

    cell_type = nnx.OptimizedLSTMCell
