"""RepeatPrevious (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments import cards
from memorax.environments.environment import Environment, EnvParams, EnvState, one_hot_space


@struct.dataclass
class RepeatPreviousState(EnvState):
    deck: jax.Array  # [num_cards] dealing order
    time: int  # steps taken; time + 1 cards have been shown


class RepeatPrevious(Environment):
    """Name the suit of the card shown ``k - 1`` steps before the current one.

    Each step shows the next card of a shuffled deck (observation: its suit,
    one-hot over 4). From the step that shows card ``k`` on, naming the suit of
    the card ``k - 1`` places back earns ``+1 / (num_cards - k)``, a wrong suit
    ``-1 / (num_cards - k)``; before that, rewards are 0. The episode terminates
    after ``num_cards - 1`` steps, so returns lie in ``[-1, 1]``.

    Levels (POPGym): Easy ``num_decks=1, k=4``; Medium ``2, 32``; Hard ``3, 64``.
    """

    def __init__(self, num_decks: int = 1, k: int = 4):
        self.num_decks = num_decks
        self.k = k
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
        state = RepeatPreviousState(deck=cards.shuffled(key, self.num_decks), time=0)
        return self.get_obs(state), state

    def target(self, state: RepeatPreviousState) -> jax.Array:
        """The suit to name at this step (meaningful once ``time + 1 >= k``)."""
        return cards.suit(state.deck[state.time + 1 - self.k])

    def step_env(self, key, state, action, params):
        action = self.clip_action(action)
        scored = state.time + 1 >= self.k
        sign = jnp.where(action == self.target(state), 1.0, -1.0)
        reward = jnp.where(scored, sign / (self.num_cards - self.k), 0.0)
        state = state.replace(time=state.time + 1)
        terminated = state.time == self.num_cards - 1
        return self.get_obs(state), state, reward, terminated, {}
