"""CountRecall (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.environments import cards
from memorax.environments.environment import one_hot_space

_KINDS = {"colors": (cards.color, cards.COLORS), "suits": (cards.suit, cards.SUITS), "ranks": (cards.rank, cards.RANKS)}


class CountRecall(cards.CardGame):
    """Say how many cards of the queried kind have been shown so far.

    Each step shows a value card and a query card, drawn from two shuffled
    decks (``decks[0]`` and ``decks[1]``; observation: both kinds, one-hot,
    concatenated). The next action is scored against the number of value cards
    shown so far, the current one included, whose kind is the query's:
    ``+1 / (num_cards - 1)`` if right, ``-1 / (num_cards - 1)`` if not. The
    episode terminates when the value deck is empty, after ``num_cards - 1``
    steps; returns lie in ``[-1, 1]``.

    Levels (POPGym): Easy ``num_decks=1``, colours; Medium ``2``, suits; Hard ``4``, ranks.
    """

    num_shuffled = 2

    def __init__(self, num_decks: int = 1, deck_type: str = "colors"):
        if deck_type not in _KINDS:
            raise ValueError(f"CountRecall: deck_type is {deck_type!r}; expected one of {sorted(_KINDS)}.")
        super().__init__(num_decks)
        self.kind, self.num_kinds = _KINDS[deck_type]
        self.max_count = self.num_cards // self.num_kinds

    @property
    def num_actions(self) -> int:
        return self.max_count + 1

    def observation_space(self, params=None):
        return one_hot_space(2 * self.num_kinds)

    def get_obs(self, state, params=None, key=None):
        return jax.nn.one_hot(self.kind(state.decks[:, state.time]), self.num_kinds).reshape(-1)

    def target(self, state: cards.CardGameState) -> jax.Array:
        shown = jnp.arange(self.num_cards) <= state.time
        query = self.kind(state.decks[1, state.time])
        return jnp.sum(shown & (self.kind(state.decks[0]) == query))

    def play(self, state, action):
        reward = jnp.where(action == self.target(state), 1.0, -1.0) / (self.num_cards - 1)
        return reward, state.time + 1 == self.num_cards - 1
