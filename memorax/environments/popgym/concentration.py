"""Concentration (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments import cards
from memorax.environments.environment import EnvParams, one_hot_space

_KINDS = {"colors": (cards.color, cards.COLORS), "ranks": (cards.rank, cards.RANKS)}


@struct.dataclass
class ConcentrationState(cards.CardGameState):
    matched: jax.Array  # [num_cards] bool: positions whose card is face up for good
    revealed: jax.Array  # [num_cards] bool: positions the observation shows: the matched ones and this turn's flips
    first: jax.Array  # position of the card turned first this turn; -1 when the next flip starts a turn


class Concentration(cards.CardGame):
    """Turn face-down cards over two at a time and match pairs of the same kind.

    A shuffled deck of ``n = 52 num_decks`` cards lies face down; action ``i``
    turns over the card at position ``i`` (``Discrete(n)``, as in POPGym).
    Two cards of the same kind (colour or rank) turned in one turn stay face up
    and earn ``1 / (n / 2)``; any other second card, the first card itself
    included, earns ``-2 / L`` and both go back face down. Turning a card that
    is already face up ends the turn at once with ``-1 / L`` per card turned
    this turn (1 or 2). Matching every card terminates; the time limit is
    ``L = ceil(2n - n / (2n - 1))`` steps. Returns lie in ``[-1, 1]``; 1 needs
    every turn to find a pair.

    The observation shows, for each of the ``n`` positions, the kind of its
    card if it is matched or was turned over in the turn this step belongs to,
    else "face down": one-hot over ``K + 1`` per position (kinds ``0 .. K - 1``
    for ``K`` = 2 colours or 13 ranks, ``K`` for face down), concatenated
    position by position, ``[n (K + 1)]``.

    Levels (POPGym): Easy ``num_decks=1``, colours; Medium ``2``, colours; Hard ``1``, ranks.
    """

    def __init__(self, num_decks: int = 1, deck_type: str = "colors"):
        if deck_type not in _KINDS:
            raise ValueError(f"Concentration: deck_type is {deck_type!r}; expected one of {sorted(_KINDS)}.")
        if not isinstance(num_decks, int) or num_decks < 1:
            raise ValueError(f"Concentration: num_decks is {num_decks!r}; expected a positive integer.")
        super().__init__(num_decks)
        self.kind, self.num_kinds = _KINDS[deck_type]
        self.face_down = self.num_kinds
        self.episode_length = math.ceil(2 * self.num_cards - self.num_cards / (2 * self.num_cards - 1))
        self.match_reward = 1 / (self.num_cards // 2)
        self.miss_reward = -1 / self.episode_length

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=self.episode_length)

    @property
    def num_actions(self) -> int:
        return self.num_cards

    def observation_space(self, params=None):
        return one_hot_space(self.num_cards * (self.num_kinds + 1))

    def state_for(self, *decks: jax.Array) -> ConcentrationState:
        """The initial state of an episode laid out as ``decks[0]`` (the card at each position, ``[num_cards]``)."""
        dealt = super().state_for(*decks)
        face_down = jnp.zeros(self.num_cards, bool)
        return ConcentrationState(
            decks=dealt.decks,
            next_decks=dealt.next_decks,
            time=dealt.time,
            matched=face_down,
            revealed=face_down,
            first=jnp.int32(-1),
        )

    def get_obs(self, state, params=None, key=None):
        shown = jnp.where(state.revealed, self.kind(state.decks[0]), self.face_down)
        return jax.nn.one_hot(shown, self.num_kinds + 1).reshape(-1)

    def is_truncated(self, state, params):
        # Unlike the other card games, Concentration ends at POPGym's time limit unless every pair is found.
        return state.time >= params.max_steps_in_episode

    def step_env(self, key, state, action, params):
        flipped = self.clip_action(action)
        turning_second = state.first >= 0
        first = jnp.where(turning_second, state.first, flipped)
        kinds = self.kind(state.decks[0])
        already_up = state.matched[flipped]
        pair = turning_second & ~already_up & (flipped != first) & (kinds[flipped] == kinds[first])
        cards_this_turn = 1 + turning_second.astype(jnp.int32)
        reward = jnp.where(
            already_up,
            self.miss_reward * cards_this_turn,
            jnp.where(pair, self.match_reward, jnp.where(turning_second, 2 * self.miss_reward, 0.0)),
        )
        positions = jnp.arange(self.num_cards)
        turned = (positions == flipped) | (positions == first)
        matched = state.matched | (pair & turned)
        turn_over = already_up | turning_second
        next_decks = self._shuffle_step(key, state.next_decks, state.time)
        state = state.replace(
            next_decks=next_decks,
            time=state.time + 1,
            matched=matched,
            revealed=state.matched | turned,
            first=jnp.where(turn_over, -1, flipped),
        )
        return self.get_obs(state), state, reward, pair & jnp.all(matched), {}
