"""CountRecall (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments import cards
from memorax.environments.environment import Environment, EnvParams, EnvState, one_hot_space

_KINDS = {"colors": (cards.color, cards.COLORS), "suits": (cards.suit, cards.SUITS), "ranks": (cards.rank, cards.RANKS)}


@struct.dataclass
class CountRecallState(EnvState):
    values: jax.Array  # [num_cards] order of the value deck
    queries: jax.Array  # [num_cards] order of the query deck
    time: int


class CountRecall(Environment):
    """Say how many cards of the queried kind have been shown so far.

    Each step shows a value card and a query card, drawn from two shuffled
    decks (observation: both kinds, one-hot, concatenated). The next action is
    scored against the number of value cards shown so far, the current one
    included, whose kind is the query's: ``+1 / (num_cards - 1)`` if right,
    ``-1 / (num_cards - 1)`` if not. The episode terminates when the value deck
    is empty, after ``num_cards - 1`` steps; returns lie in ``[-1, 1]``.

    Levels (POPGym): Easy ``num_decks=1``, colours; Medium ``2``, suits; Hard ``4``, ranks.
    """

    def __init__(self, num_decks: int = 1, deck_type: str = "colors"):
        if deck_type not in _KINDS:
            raise ValueError(f"CountRecall: deck_type is {deck_type!r}; expected one of {sorted(_KINDS)}.")
        self.num_decks = num_decks
        self.num_cards = cards.DECK_SIZE * num_decks
        self.kind, self.num_kinds = _KINDS[deck_type]
        self.max_count = self.num_cards // self.num_kinds

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=self.num_cards - 1)

    @property
    def num_actions(self) -> int:
        return self.max_count + 1

    def observation_space(self, params=None):
        return one_hot_space(2 * self.num_kinds)

    def get_obs(self, state, params=None, key=None):
        value = jax.nn.one_hot(self.kind(state.values[state.time]), self.num_kinds)
        query = jax.nn.one_hot(self.kind(state.queries[state.time]), self.num_kinds)
        return jnp.concatenate([value, query])

    def reset_env(self, key, params):
        value_key, query_key = jax.random.split(key)
        state = CountRecallState(
            values=cards.shuffled(value_key, self.num_decks), queries=cards.shuffled(query_key, self.num_decks), time=0
        )
        return self.get_obs(state), state

    def target(self, state: CountRecallState) -> jax.Array:
        shown = jnp.arange(self.num_cards) <= state.time
        query = self.kind(state.queries[state.time])
        return jnp.sum(shown & (self.kind(state.values) == query))

    def step_env(self, key, state, action, params):
        action = self.clip_action(action)
        reward = jnp.where(action == self.target(state), 1.0, -1.0) / (self.num_cards - 1)
        state = state.replace(time=state.time + 1)
        terminated = state.time == self.num_cards - 1
        return self.get_obs(state), state, reward, terminated, {}
