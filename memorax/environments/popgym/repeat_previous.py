"""RepeatPrevious (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.environments import cards


class RepeatPrevious(cards.SuitRecall):
    """Name the suit of the card shown ``k - 1`` steps before the current one.

    Each step shows the next card of a shuffled deck (observation: its suit,
    one-hot over 4). From the step that shows card ``k`` on, naming the suit of
    the card ``k - 1`` places back earns ``+1 / (num_cards - k)``, a wrong suit
    ``-1 / (num_cards - k)``; before that, rewards are 0. The episode terminates
    after ``num_cards - 1`` steps, so returns lie in ``[-1, 1]``.

    Levels (POPGym): Easy ``num_decks=1, k=4``; Medium ``2, 32``; Hard ``3, 64``.
    """

    def __init__(self, num_decks: int = 1, k: int = 4):
        super().__init__(num_decks)
        self.k = k

    def target(self, state: cards.CardGameState) -> jax.Array:
        """The suit to name at this step (meaningful once ``time + 1 >= k``)."""
        return cards.suit(state.decks[0, state.time + 1 - self.k])

    def play(self, state, action):
        sign = jnp.where(action == self.target(state), 1.0, -1.0)
        reward = jnp.where(state.time + 1 >= self.k, sign / (self.num_cards - self.k), 0.0)
        return reward, state.time + 1 == self.num_cards - 1
