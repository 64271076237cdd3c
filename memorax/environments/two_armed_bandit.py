"""TwoArmedBandit: one pull per episode; with Trials, the meta-learning bandit of RL² (Duan et al. 2016)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from memorax.environments.environment import Environment, EnvParams, EnvState


@struct.dataclass
class TwoArmedBanditParams(EnvParams):
    """The task of a :class:`TwoArmedBandit`: ``arm_probabilities [2]``, each arm's probability of paying 1."""

    arm_probabilities: jax.Array = struct.field(default_factory=lambda: jnp.array([0.75, 0.25]))


class TwoArmedBandit(Environment):
    """Each episode is one pull: arm ``a`` pays 1 with probability ``params.arm_probabilities[a]``, else 0.

    The observation is always ``[1.0]``: nothing tells the arms apart but the
    rewards they paid. Every episode terminates after its pull (return 0 or 1).
    Alone it is a fixed bandit (default arms ``0.75, 0.25``) that needs no
    memory. Wrapped in :class:`~memorax.environments.Trials`, its
    :meth:`sample_task` draws dependent arms ``(p, 1 - p)``, ``p ~ U(0, 1)``,
    per trial (Wang et al. 2016, "Learning to reinforcement learn"): a policy
    without memory earns 0.5 per pull in expectation whatever it does, since
    either arm pays 0.5 on average over tasks; one that remembers its
    previous pulls and rewards can find the better arm and keep pulling it
    (``E[max(p, 1 - p)] = 0.75``).
    """

    @property
    def default_params(self) -> TwoArmedBanditParams:
        return TwoArmedBanditParams()

    @property
    def num_actions(self) -> int:
        return 2

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(1.0, 1.0, (1,), jnp.float32)

    def sample_task(self, key: jax.Array, params: TwoArmedBanditParams) -> TwoArmedBanditParams:
        """``params`` with dependent arms ``(p, 1 - p)``, ``p ~ U(0, 1)``."""
        p = jax.random.uniform(key)
        return params.replace(arm_probabilities=jnp.stack([p, 1 - p]))

    def reset_env(self, key, params):
        return jnp.ones(1), EnvState(time=0)

    def step_env(self, key, state, action, params):
        paid = jax.random.uniform(key) < params.arm_probabilities[self.clip_action(action)]
        return jnp.ones(1), state.replace(time=state.time + 1), paid.astype(jnp.float32), jnp.array(True), {}

    def is_truncated(self, state, params):
        # An episode is one pull that terminates; there is no time limit to reach.
        return jnp.array(False)
