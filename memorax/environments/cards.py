"""Card games: the decks the POPGym card tasks deal from, and their shared episode mechanics.

A deck of ``num_decks`` decks holds ``52 * num_decks`` cards. Card ``c`` has
suit ``c % 4``, rank ``(c // 4) % 13`` and colour ``c % 2`` (POPGym's
``Deck`` layout). A shuffled deck is a permutation; cards are dealt in its order.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments.environment import Environment, EnvParams, EnvState, one_hot_space

DECK_SIZE, SUITS, RANKS, COLORS = 52, 4, 13, 2


def shuffled(key: jax.Array, num_decks: int) -> jax.Array:
    """The order in which the cards are dealt ``[52 * num_decks]``."""
    return jax.random.permutation(key, DECK_SIZE * num_decks)


def suit(card: jax.Array) -> jax.Array:
    return card % SUITS


def rank(card: jax.Array) -> jax.Array:
    return (card // SUITS) % RANKS


def color(card: jax.Array) -> jax.Array:
    return card % COLORS


@struct.dataclass
class CardGameState(EnvState):
    decks: jax.Array  # [num_shuffled, num_cards]: the dealing order of each deck in play
    next_decks: jax.Array  # [num_shuffled, num_cards]: the next episode's decks, shuffled as this one runs
    time: int  # steps taken; card ``time`` of each deck is the one showing


class CardGame(Environment):
    """Deals ``num_shuffled`` independently shuffled decks of ``52 * num_decks`` cards, one card per step.

    Auto-reset needs a fresh shuffle, and gymnax-style environments compute
    the reset state at every step; a full shuffle (a sort) per step would
    dominate the cost. Instead, each of the first ``num_cards - 1`` steps of an
    episode performs one Fisher–Yates swap on ``next_decks`` (position ``time``
    takes a uniformly drawn card from positions ``time .. num_cards - 1``), so
    by the end of an episode of ``num_cards - 1`` steps or more (every game's
    own length) the next decks are uniformly shuffled and the reset costs
    nothing. An episode cut short by ``params.max_steps_in_episode`` below the
    game's length is truncated there, and its reset does the swaps it did not reach.

    Subclasses implement ``get_obs(state)`` and ``play(state, action) ->
    (reward, terminated)`` for the step from ``state.time`` to ``state.time + 1``;
    ``default_params.max_steps_in_episode`` is the game's length.
    """

    num_shuffled = 1

    def __init__(self, num_decks: int):
        self.num_decks = num_decks
        self.num_cards = DECK_SIZE * num_decks

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=self.num_cards - 1)

    def state_for(self, *decks: jax.Array) -> CardGameState:
        """The initial state of an episode dealt from ``decks`` (each ``[num_cards]``)."""
        fresh = jnp.broadcast_to(jnp.arange(self.num_cards), (self.num_shuffled, self.num_cards))
        return CardGameState(decks=jnp.stack(decks), next_decks=fresh, time=0)

    def reset_env(self, key, params):
        keys = jax.random.split(key, self.num_shuffled)
        state = self.state_for(*(shuffled(k, self.num_decks) for k in keys))
        return self.get_obs(state), state

    def reset_after(self, key, state, params):
        # Zero swaps unless the episode ends at a time limit before its shuffle is done (bounds per environment).
        end = jnp.where(state.time >= params.max_steps_in_episode, self.num_cards - 1, state.time)
        swap = lambda position, decks: self._shuffle_step(jax.random.fold_in(key, position), decks, position)
        fresh = self.state_for(*jax.lax.fori_loop(state.time, end, swap, state.next_decks))
        return self.get_obs(fresh), fresh

    def is_truncated(self, state, params):
        # The game terminates at its own length; only a shorter limit truncates.
        return (state.time >= params.max_steps_in_episode) & (state.time < self.default_params.max_steps_in_episode)

    def play(self, state: CardGameState, action: jax.Array) -> tuple[jax.Array, jax.Array]:
        raise NotImplementedError

    def _shuffle_step(self, key: jax.Array, decks: jax.Array, position: jax.Array) -> jax.Array:
        rows = jnp.arange(self.num_shuffled)
        position = jnp.minimum(position, self.num_cards - 1)
        drawn = jax.random.randint(key, (self.num_shuffled,), position, self.num_cards)
        here, there = decks[rows, position], decks[rows, drawn]
        return decks.at[rows, position].set(there).at[rows, drawn].set(here)

    def step_env(self, key, state, action, params):
        reward, terminated = self.play(state, self.clip_action(action))
        next_decks = self._shuffle_step(key, state.next_decks, state.time)
        state = state.replace(next_decks=next_decks, time=state.time + 1)
        return self.get_obs(state), state, reward, terminated, {}


class SuitRecall(CardGame):
    """A card game that shows each card's suit (one-hot over 4) and asks for a suit (``Discrete(4)``)."""

    @property
    def num_actions(self) -> int:
        return SUITS

    def observation_space(self, params=None):
        return one_hot_space(SUITS)

    def get_obs(self, state, params=None, key=None):
        return jax.nn.one_hot(suit(state.decks[0, state.time]), SUITS)
