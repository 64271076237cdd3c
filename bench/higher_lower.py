"""HigherLower's ceilings: the best return with memory (counting the cards seen) and without (the current card only).

Usage: python bench/higher_lower.py [--episodes 16384] [--levels Easy Medium Hard]

Plays ``memorax::HigherLower-<level>`` through the environment itself, one episode per
environment, with two policies that see only the observations: the memoryless optimum
(higher below the middle rank 6, lower above it: a fresh deck's odds) and the counting optimum
(higher when more of the cards not yet seen rank above the current one than below it). Prints
each one's mean return with its standard error, and the gap, the most memory can add on the task.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

from memorax.environments import cards, make


def returns(level: str, episodes: int, key: jax.Array) -> dict[str, jax.Array]:
    """Each policy's return on ``episodes`` episodes dealt from the same decks."""
    env, params = make(f"memorax::HigherLower-{level}")
    reset_keys, step_keys = jax.random.split(key)
    obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(reset_keys, episodes), params)
    full = jnp.full((episodes, cards.RANKS), 4 * env.num_decks)

    def play(carry, key):
        obs, state, unseen = carry
        unseen = unseen - obs.astype(unseen.dtype)  # the current card is seen
        current = jnp.argmax(obs, axis=-1)
        above = jnp.sum(jnp.where(jnp.arange(cards.RANKS) > current[:, None], unseen, 0), axis=-1)
        below = jnp.sum(jnp.where(jnp.arange(cards.RANKS) < current[:, None], unseen, 0), axis=-1)
        actions = {"counting": jnp.where(above > below, 0, 1), "current card only": jnp.where(current < 6, 0, 1)}
        keys = jax.random.split(key, episodes)
        steps = {name: jax.vmap(env.step, (0, 0, 0, None))(keys, state, action, params) for name, action in actions.items()}
        next_obs, next_state = steps["counting"][:2]  # the deck is dealt the same whatever the guess
        return (next_obs, next_state, unseen), {name: step[2] for name, step in steps.items()}

    _, rewards = jax.lax.scan(play, (obs, state, full), jax.random.split(step_keys, env.num_cards - 1))
    return {name: reward.sum(axis=0) for name, reward in rewards.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=16_384)
    parser.add_argument("--levels", nargs="+", default=["Easy", "Medium", "Hard"])
    args = parser.parse_args()
    print("| task | counting the cards seen | the current card only | gap |")
    print("| --- | ---: | ---: | ---: |")
    for level in args.levels:
        result = jax.jit(returns, static_argnums=(0, 1))(level, args.episodes, jax.random.key(0))
        mean = {name: float(r.mean()) for name, r in result.items()}
        error = {name: float(r.std() / args.episodes**0.5) for name, r in result.items()}
        gap = result["counting"] - result["current card only"]
        cells = " | ".join(f"{mean[n]:+.4f} ± {error[n]:.4f}" for n in ("counting", "current card only"))
        print(f"| HigherLower-{level} | {cells} | {float(gap.mean()):+.4f} ± {float(gap.std() / args.episodes**0.5):.4f} |")


if __name__ == "__main__":
    main()
