"""Decks of playing cards, as the POPGym card tasks use them.

A deck of ``num_decks`` decks holds ``52 * num_decks`` cards. Card ``c`` has
suit ``c % 4``, rank ``(c // 4) % 13`` and colour ``c % 2`` (POPGym's
``Deck`` layout). A shuffled deck is a permutation; cards are dealt in its order.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

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
