"""Autoencode (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments import cards
from memorax.environments.environment import Environment, EnvParams, EnvState, one_hot_space


@struct.dataclass
class AutoencodeState(EnvState):
    deck: jax.Array  # [num_cards] dealing order
    time: int


class Autoencode(Environment):
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

    def __init__(self, num_decks: int = 1):
        self.num_decks = num_decks
        self.num_cards = cards.DECK_SIZE * num_decks

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=2 * self.num_cards - 1)

    @property
    def num_actions(self) -> int:
        return cards.SUITS

    def observation_space(self, params=None):
        return one_hot_space(2 + cards.SUITS)

    def get_obs(self, state, params=None, key=None):
        watching = state.time < self.num_cards - 1
        shown = jnp.where(state.time < self.num_cards, cards.suit(state.deck[jnp.minimum(state.time, self.num_cards - 1)]), 0)
        return jnp.concatenate([jax.nn.one_hot(jnp.asarray(watching, jnp.int32), 2), jax.nn.one_hot(shown, cards.SUITS)])

    def reset_env(self, key, params):
        state = AutoencodeState(deck=cards.shuffled(key, self.num_decks), time=0)
        return self.get_obs(state), state

    def target(self, state: AutoencodeState) -> jax.Array:
        """The suit asked for at this step (meaningful during play)."""
        return cards.suit(state.deck[jnp.clip(2 * self.num_cards - 2 - state.time, 0, self.num_cards - 1)])

    def step_env(self, key, state, action, params):
        action = self.clip_action(action)
        playing = state.time >= self.num_cards - 1
        sign = jnp.where(action == self.target(state), 1.0, -1.0)
        reward = jnp.where(playing, sign / self.num_cards, 0.0)
        state = state.replace(time=state.time + 1)
        terminated = state.time == 2 * self.num_cards - 1
        return self.get_obs(state), state, reward, terminated, {}
