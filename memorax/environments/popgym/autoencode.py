"""Autoencode (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.environments import cards
from memorax.environments.environment import EnvParams, one_hot_space


class Autoencode(cards.CardGame):
    """Watch a deck's suits go by, then repeat them in reverse order.

    Watch phase: the first ``num_cards - 1`` steps show the cards one by one
    (reward 0). Play phase: the next ``num_cards`` steps ask for the suits from
    the last card shown back to the first, ``+1 / num_cards`` per right suit,
    ``-1 / num_cards`` per wrong one. The observation is the one-hot phase flag
    (1 while watching; 0 from the step that shows the last card on) followed by
    the one-hot suit of the card shown (suit 0 during play). The episode
    terminates after ``2 num_cards - 1`` steps; returns lie in ``[-1, 1]``.

    Levels (POPGym): Easy ``num_decks=1``; Medium ``2``; Hard ``3``.
    """

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=2 * self.num_cards - 1)

    @property
    def num_actions(self) -> int:
        return cards.SUITS

    def observation_space(self, params=None):
        return one_hot_space(2 + cards.SUITS)

    def get_obs(self, state, params=None, key=None):
        watching = jnp.asarray(state.time < self.num_cards - 1, jnp.int32)
        card = state.decks[0, jnp.minimum(state.time, self.num_cards - 1)]
        shown = jnp.where(state.time < self.num_cards, cards.suit(card), 0)
        return jnp.concatenate([jax.nn.one_hot(watching, 2), jax.nn.one_hot(shown, cards.SUITS)])

    def target(self, state: cards.CardGameState) -> jax.Array:
        """The suit asked for at this step (meaningful during play)."""
        return cards.suit(state.decks[0, jnp.clip(2 * self.num_cards - 2 - state.time, 0, self.num_cards - 1)])

    def play(self, state, action):
        sign = jnp.where(action == self.target(state), 1.0, -1.0)
        reward = jnp.where(state.time >= self.num_cards - 1, sign / self.num_cards, 0.0)
        return reward, state.time + 1 == 2 * self.num_cards - 1
