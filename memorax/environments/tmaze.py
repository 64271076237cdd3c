"""TMaze: the classic cue-recall corridor (Bakker 2002, "Reinforcement learning with long short-term memory")."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments.environment import Environment, EnvParams, EnvState, one_hot_space

NORTH, EAST, SOUTH, WEST = range(4)


@struct.dataclass
class TMazeState(EnvState):
    cue: jax.Array  # 0: the goal is north, 1: south
    position: jax.Array  # 0 (start) .. corridor_length (junction)
    time: int


class TMaze(Environment):
    """Walk a corridor and turn towards the goal that the first observation cued.

    The agent starts at cell 0 of a corridor whose junction is cell
    ``corridor_length``. Observations are one-hot over four kinds:
    ``[cue north, cue south, corridor, junction]``; the cue is shown only at the
    first step, so it must be remembered for ``corridor_length`` steps. Actions
    ``0 north, 1 east, 2 south, 3 west``; walls leave the agent in place. At
    the junction, north or south terminates the episode with reward +1 if it
    matches the cue and -1 otherwise; every other step earns 0. The episode is
    truncated after ``max_steps_in_episode`` steps (default
    ``4 * (corridor_length + 1)``). Returns lie in ``[-1, 1]``.
    """

    def __init__(self, corridor_length: int = 10):
        if corridor_length < 1:
            raise ValueError(f"TMaze: corridor_length is {corridor_length}; expected at least 1.")
        self.corridor_length = corridor_length

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=4 * (self.corridor_length + 1))

    @property
    def num_actions(self) -> int:
        return 4

    def observation_space(self, params=None):
        return one_hot_space(4)

    def get_obs(self, state, params=None, key=None):
        kind = jnp.where(state.position == self.corridor_length, 3, 2)
        return jax.nn.one_hot(jnp.where(state.time == 0, state.cue, kind), 4)

    def reset_env(self, key, params):
        state = TMazeState(cue=jax.random.randint(key, (), 0, 2), position=jnp.array(0), time=0)
        return self.get_obs(state), state

    def step_env(self, key, state, action, params):
        action = self.clip_action(action)
        at_junction = state.position == self.corridor_length
        turned = at_junction & ((action == NORTH) | (action == SOUTH))
        correct = (action == NORTH) == (state.cue == 0)
        reward = jnp.where(turned, jnp.where(correct, 1.0, -1.0), 0.0)
        step = jnp.where(action == EAST, 1, jnp.where(action == WEST, -1, 0))
        position = jnp.clip(state.position + step, 0, self.corridor_length)
        state = state.replace(position=position, time=state.time + 1)
        return self.get_obs(state), state, reward, turned, {}
