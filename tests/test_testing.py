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


class ResetsToZeros(LeakyAverage):
    """Starts from ones but resets to zeros: each alone looks fine, the two disagree."""

    def initialize_carry(self, batch_size):
        return jnp.ones((batch_size, self.hidden_dim))


class DriftingCarry(LeakyAverage):
    """Returns its carry with an extra axis: a rollout's scan would refuse it."""

    def __call__(self, inputs, done, carry):
        carry, outputs = super().__call__(inputs, done, carry.reshape(carry.shape[0], -1))
        return carry[:, None], outputs


class LosesTheCarryAfterSixteenSteps(LeakyAverage):
    """A chunked model that drops its state between chunks of 16: only calls longer than a chunk show it."""

    def __call__(self, inputs, done, carry):
        return super().__call__(inputs, done.at[:, 16:17].set(True) if inputs.shape[1] > 16 else done, carry)


class LosesTheCarryAfterSixtyFourSteps(LeakyAverage):
    """A chunked model whose chunk links forget past 64 steps: only the long sequence shows it."""

    def __call__(self, inputs, done, carry):
        return super().__call__(inputs, done.at[:, 64:65].set(True) if inputs.shape[1] > 64 else done, carry)


class WeaklyTypedCarry(LeakyAverage):
    def initialize_carry(self, batch_size):
        return jnp.full((batch_size, self.hidden_dim), 0.0)


class ScalarCarry(LeakyAverage):
    def initialize_carry(self, batch_size):
        return 0.0


class Explodes(LeakyAverage):
    """``h_t = 1.05 h_{t-1} + W x_t``: finite over episodes of a few hundred steps, not over thousands."""

    def decay_and_input(self, inputs):
        x = self.projection(inputs)
        return jnp.full_like(x, 1.05) + 0 * self.keep_logit[...], x


def test_a_correct_model_passes():
    check_sequence_model(LeakyAverage())


@pytest.mark.parametrize(
    "model, failure",
    [
        (IgnoresResets, "a reset is a fresh start does not hold"),
        (ActsDifferently, "parallel = step by step does not hold"),
        (Forgets, "the memory is not used"),
        (UnusedParameter, r"the gradient of .*unused.* is not finite and nonzero"),
        (ResetsToZeros, "a reset is a fresh start does not hold"),
        (DriftingCarry, r"leaf \(the carry\) has shape and dtype \(\(3, 1, 6\), dtype\('float32'\)\); expected \(\(3, 6\)"),
        (LosesTheCarryAfterSixteenSteps, "parallel = step by step does not hold"),
        (LosesTheCarryAfterSixtyFourSteps, "calls of 40 steps = one call of 4096 does not hold"),
        (WeaklyTypedCarry, r"leaf \(the carry\) is weakly typed"),
        (ScalarCarry, r"leaf \(the carry\) is a float; expected an array \[3, \.\.\.\]"),
        (Explodes, "outputs or carry are not finite over 4096 steps"),
    ],
    ids=[
        "ignores-resets",
        "acts-differently",
        "forgets",
        "unused-parameter",
        "resets-to-zeros",
        "drifting-carry",
        "chunks",
        "long-chunks",
        "weak-carry",
        "scalar-carry",
        "explodes",
    ],
)
def test_a_broken_model_fails_naming_the_property(model, failure):
    with pytest.raises(AssertionError, match=failure):
        check_sequence_model(model())
