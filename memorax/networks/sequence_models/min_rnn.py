"""minGRU and minLSTM: the minimal recurrent units of Feng et al. (2024), "Were RNNs All We Needed?", arXiv:2410.01201."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.linear import Linear
from memorax.networks.sequence_models.diagonal_recurrence import DiagonalRecurrence
from memorax.networks.sizes import require_sizes


class _MinimalRNN(DiagonalRecurrence):
    """A :class:`DiagonalRecurrence` whose ``a`` and ``b`` come from one linear map of ``x_t`` alone.

    Subclasses name the number of ``hidden_dim``-wide projections and turn
    them into ``(a, b)`` in ``combine``; the outputs are ``h``.
    """

    num_projections: int

    def __init__(self, hidden_dim: int):
        require_sizes(type(self).__name__, hidden_dim=hidden_dim)
        self.hidden_dim = hidden_dim
        self.state_shape = (hidden_dim,)

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        self.projection = Linear(in_features, self.num_projections * self.hidden_dim, rngs=rngs)

    def combine(self, projections: list[jax.Array]) -> tuple[jax.Array, jax.Array]:
        raise NotImplementedError

    def decay_and_input(self, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.combine(jnp.split(self.projection(inputs), self.num_projections, axis=-1))


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

    def combine(self, projections):
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
    The normalised forget gate is computed as ``σ(log σ(W_f x_t + b_f) − log σ(W_i x_t + b_i))``,
    equal to ``f_t / (f_t + i_t)``: where both gates are far below zero the quotient of
    sigmoids is 0/0 (pre-activations below −88 in float32) and its gradient overflows
    (below −45); the log-sigmoids stay finite, as in the paper's log-space form.

    Args:
      hidden_dim: the width of ``h``.
    """

    num_projections = 3

    def combine(self, projections):
        forget, input_, candidate = projections
        normalised_forget = jax.nn.sigmoid(jax.nn.log_sigmoid(forget) - jax.nn.log_sigmoid(input_))
        return normalised_forget, (1 - normalised_forget) * candidate
