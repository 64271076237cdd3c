"""HigherLower (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.environments import cards
from memorax.environments.environment import one_hot_space


class HigherLower(cards.CardGame):
    """Guess whether the next card's rank is higher (action 0) or lower (action 1).

    The observation is the current card's rank, one-hot over 13. A right guess
    earns ``+1 / num_cards``, a wrong one ``-1 / num_cards``, equal ranks 0.
    Counting the cards already seen tells which ranks are left. The episode
    terminates after ``num_cards - 1`` guesses; returns lie in ``[-1, 1]``.

    Levels (POPGym): Easy ``num_decks=1``; Medium ``2``; Hard ``3``.
    """

    @property
    def num_actions(self) -> int:
        return 2

    def observation_space(self, params=None):
        return one_hot_space(cards.RANKS)

    def get_obs(self, state, params=None, key=None):
        return jax.nn.one_hot(cards.rank(state.decks[0, state.time]), cards.RANKS)

    def play(self, state, action):
        current = cards.rank(state.decks[0, state.time])
        following = cards.rank(state.decks[0, state.time + 1])
        right = (following > current) == (action == 0)
        reward = jnp.where(following == current, 0.0, jnp.where(right, 1.0, -1.0) / self.num_cards)
        return reward, state.time + 1 >= self.num_cards - 1
