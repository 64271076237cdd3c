"""minGRU and minLSTM: the minimal recurrent units of Feng et al. (2024), "Were RNNs All We Needed?", arXiv:2410.01201."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.sequence_models.linear_recurrence import run_recurrence
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel


class _MinimalRNN(LazyModule, SequenceModel):
    """A recurrence ``h_t = a_t ⊙ h_{t-1} + b_t`` whose ``a`` and ``b`` come from one linear map of ``x_t`` alone.

    The gates do not read ``h_{t-1}``, so a whole sequence is one associative
    scan (:func:`~memorax.networks.sequence_models.linear_recurrence.linear_recurrence`)
    and a single step is the plain update. Subclasses name the number of
    ``hidden_dim``-wide projections and turn them into ``(a, b)``.
    """

    num_projections: int

    def __init__(self, hidden_dim: int):
        self.hidden_dim = hidden_dim

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        self.projection = nnx.Linear(in_features, self.num_projections * self.hidden_dim, rngs=rngs)

    def initialize_carry(self, batch_size: int) -> Carry:
        return jnp.zeros((batch_size, self.hidden_dim), jnp.float32)

    def decay_and_input(self, projections: list[jax.Array]) -> tuple[jax.Array, jax.Array]:
        raise NotImplementedError

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        projections = jnp.split(self.projection(inputs), self.num_projections, axis=-1)
        a, b = self.decay_and_input(projections)
        h = run_recurrence(a, b, done, carry)
        return h[:, -1], h


class MinGRU(_MinimalRNN):
    r"""minGRU (Feng et al. 2024): a GRU whose update gate and candidate read only the input.

    .. math::

        z_t = \sigma(W_z x_t + b_z), \quad
        \tilde h_t = W_h x_t + b_h, \quad
        h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t .

    Shapes: inputs ``[B, T, F]``, outputs ``h`` ``[B, T, hidden_dim]``; carry
    ``[B, hidden_dim]``, zero at an episode start. The paper's log-space scan
    needs a positive candidate and so passes it through ``g``; the linear
    scan here takes any sign, so ``h̃`` is the plain linear map of its
    equation (3).

    Args:
      hidden_dim: the width of ``h``.
    """

    num_projections = 2

    def decay_and_input(self, projections):
        gate, candidate = projections
        z = jax.nn.sigmoid(gate)
        return 1 - z, z * candidate


class MinLSTM(_MinimalRNN):
    r"""minLSTM (Feng et al. 2024): forget and input gates of the input alone, normalised to sum to one.

    .. math::

        f_t = \sigma(W_f x_t + b_f), \quad i_t = \sigma(W_i x_t + b_i), \quad
        \tilde h_t = W_h x_t + b_h,

        h_t = \frac{f_t}{f_t + i_t} \odot h_{t-1} + \frac{i_t}{f_t + i_t} \odot \tilde h_t .

    Shapes: inputs ``[B, T, F]``, outputs ``h`` ``[B, T, hidden_dim]``; carry
    ``[B, hidden_dim]``, zero at an episode start. As for :class:`MinGRU`,
    ``h̃`` is the plain linear map (the paper's ``g`` serves only its log-space scan).

    Args:
      hidden_dim: the width of ``h``.
    """

    num_projections = 3

    def decay_and_input(self, projections):
        forget, input_, candidate = projections
        f, i = jax.nn.sigmoid(forget), jax.nn.sigmoid(input_)
        return f / (f + i), i / (f + i) * candidate
