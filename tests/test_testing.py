"""memorax.testing.check_sequence_model passes a correct user model and names what a broken one breaks."""

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from memorax.networks.sequence_models import DiagonalRecurrence
from memorax.networks.sequence_models.linear_recurrence import run_recurrence
from memorax.testing import check_sequence_model


class LeakyAverage(DiagonalRecurrence):
    """``h_t = k ⊙ h_{t-1} + (1 - k) ⊙ W x_t``, ``k = σ(w)``: the docs' example of a user's model."""

    def __init__(self, hidden_dim: int = 6):
        self.hidden_dim = hidden_dim
        self.state_shape = (hidden_dim,)

    def build(self, in_features, rngs):
        self.projection = nnx.Linear(in_features, self.hidden_dim, rngs=rngs)
        self.keep_logit = nnx.Param(jnp.zeros(self.hidden_dim))

    def decay_and_input(self, inputs):
        keep = jax.nn.sigmoid(self.keep_logit[...])
        x = self.projection(inputs)
        return jnp.broadcast_to(keep, x.shape), (1 - keep) * x


class IgnoresResets(LeakyAverage):
    def __call__(self, inputs, done, carry):
        self.build_once(inputs)
        h = run_recurrence(*self.decay_and_input(inputs), jnp.zeros_like(done), carry)
        return h[:, -1], h


class ActsDifferently(LeakyAverage):
    """One step at a time (acting) adds an offset that whole sequences (training) do not."""

    def readout(self, h, inputs):
        return h + (inputs.shape[1] == 1)


class Forgets(LeakyAverage):
    def decay_and_input(self, inputs):
        _, b = super().decay_and_input(inputs)
        return jnp.zeros_like(b), b


class UnusedParameter(LeakyAverage):
    def build(self, in_features, rngs):
        super().build(in_features, rngs)
        self.unused = nnx.Param(jnp.ones(3))


def test_a_correct_model_passes():
    check_sequence_model(LeakyAverage())


@pytest.mark.parametrize(
    "model, failure",
    [
        (IgnoresResets, "a reset is a fresh start does not hold"),
        (ActsDifferently, "parallel = step by step does not hold"),
        (Forgets, "the memory is not used"),
        (UnusedParameter, r"the gradient of .*unused.* is not finite and nonzero"),
    ],
    ids=["ignores-resets", "acts-differently", "forgets", "unused-parameter"],
)
def test_a_broken_model_fails_naming_the_property(model, failure):
    with pytest.raises(AssertionError, match=failure):
        check_sequence_model(model())
