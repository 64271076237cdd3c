"""RepeatFirst (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments import cards
from memorax.environments.environment import Environment, EnvParams, EnvState, one_hot_space


@struct.dataclass
class RepeatFirstState(EnvState):
    deck: jax.Array  # [num_cards] dealing order
    time: int


class RepeatFirst(Environment):
    """Name the suit of the first card shown, at every step.

    Each step shows the next card of a shuffled deck (its suit, one-hot over 4);
    naming the first card's suit earns ``+1 / (num_cards - 1)``, anything else
    ``-1 / (num_cards - 1)``. The episode terminates after ``num_cards - 1``
    steps, so returns lie in ``[-1, 1]``.

    Levels (POPGym): Easy ``num_decks=1``; Medium ``8``; Hard ``16``.
    """

    def __init__(self, num_decks: int = 1):
        self.num_decks = num_decks
        self.num_cards = cards.DECK_SIZE * num_decks

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=self.num_cards - 1)

    @property
    def num_actions(self) -> int:
        return cards.SUITS

    def observation_space(self, params=None):
        return one_hot_space(cards.SUITS)

    def get_obs(self, state, params=None, key=None):
        return jax.nn.one_hot(cards.suit(state.deck[state.time]), cards.SUITS)

    def reset_env(self, key, params):
        state = RepeatFirstState(deck=cards.shuffled(key, self.num_decks), time=0)
        return self.get_obs(state), state

    def target(self, state: RepeatFirstState) -> jax.Array:
        return cards.suit(state.deck[0])

    def step_env(self, key, state, action, params):
        action = self.clip_action(action)
        reward = jnp.where(action == self.target(state), 1.0, -1.0) / (self.num_cards - 1)
        state = state.replace(time=state.time + 1)
        terminated = state.time == self.num_cards - 1
        return self.get_obs(state), state, reward, terminated, {}
