"""RepeatFirst (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.environments import cards
from memorax.environments.environment import one_hot_space


class RepeatFirst(cards.CardGame):
    """Name the suit of the first card shown, at every step.

    Each step shows the next card of a shuffled deck (its suit, one-hot over 4);
    naming the first card's suit earns ``+1 / (num_cards - 1)``, anything else
    ``-1 / (num_cards - 1)``. The episode terminates after ``num_cards - 1``
    steps, so returns lie in ``[-1, 1]``.

    Levels (POPGym): Easy ``num_decks=1``; Medium ``8``; Hard ``16``.
    """

    @property
    def num_actions(self) -> int:
        return cards.SUITS

    def observation_space(self, params=None):
        return one_hot_space(cards.SUITS)

    def get_obs(self, state, params=None, key=None):
        return jax.nn.one_hot(cards.suit(state.decks[0, state.time]), cards.SUITS)

    def target(self, state: cards.CardGameState) -> jax.Array:
        return cards.suit(state.decks[0, 0])

    def play(self, state, action):
        reward = jnp.where(action == self.target(state), 1.0, -1.0) / (self.num_cards - 1)
        return reward, state.time + 1 == self.num_cards - 1
