"""RepeatFirst (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.environments import cards


class RepeatFirst(cards.SuitRecall):
    """Name the suit of the first card shown, at every step.

    Each step shows the next card of a shuffled deck (its suit, one-hot over 4);
    naming the first card's suit earns ``+1 / (num_cards - 1)``, anything else
    ``-1 / (num_cards - 1)``. The episode terminates after ``num_cards - 1``
    steps, so returns lie in ``[-1, 1]``.

    Levels (POPGym): Easy ``num_decks=1``; Medium ``8``; Hard ``16``.
    """

    def target(self, state: cards.CardGameState) -> jax.Array:
        return cards.suit(state.decks[0, 0])

    def play(self, state, action):
        reward = jnp.where(action == self.target(state), 1.0, -1.0) / (self.num_cards - 1)
        return reward, state.time + 1 == self.num_cards - 1
