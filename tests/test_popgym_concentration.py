"""Concentration against POPGym 1.0.7 (same deck, same actions), its exact random return, and scripted players."""

import functools
from collections import defaultdict

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from popgym.envs.concentration import ConcentrationEasy, ConcentrationHard, ConcentrationMedium

from memorax.environments.popgym.concentration import Concentration

LEVELS = {
    "Easy": (dict(num_decks=1, deck_type="colors"), ConcentrationEasy),
    "Medium": (dict(num_decks=2, deck_type="colors"), ConcentrationMedium),
    "Hard": (dict(num_decks=1, deck_type="ranks"), ConcentrationHard),
}
NUM_ENVS = 256
RANDOM, ORACLE, REMEMBERING = 0, 1, 2


def decode(env, obs):
    """POPGym's observation (the kind at each position, ``num_kinds`` for face down) from ours ``[..., n (K + 1)]``."""
    return obs.reshape(*obs.shape[:-1], env.num_cards, env.num_kinds + 1).argmax(axis=-1)


def reference_action(reference, rng):
    """Mostly the move that finds a pair (read from POPGym's deck), with random flips, face-up flips and repeats mixed in."""
    kinds, face_up, in_play = reference.state, reference.deck["face_up_idx"], reference.deck["in_play_idx"]
    face_down = np.setdiff1d(np.arange(len(kinds)), face_up)
    u = rng.random()
    if u < 0.05 and face_up:
        return int(rng.choice(face_up))
    if u < 0.1 and in_play:
        return in_play[0]
    if u < 0.3:
        return int(rng.integers(len(kinds)))
    if in_play:
        partners = face_down[(kinds[face_down] == kinds[in_play[0]]) & (face_down != in_play[0])]
        return int(partners[0])
    return int(face_down[0])


@pytest.mark.parametrize("level", list(LEVELS))
def test_same_deck_and_actions_give_what_popgym_gives(level):
    kwargs, make_reference = LEVELS[level]
    env = Concentration(**kwargs)
    params = env.default_params

    @jax.jit
    def start(deck):
        state = env.state_for(deck)
        return decode(env, env.get_obs(state)), state

    @jax.jit
    def transition(state, action, t):
        obs, state, reward, terminated, _ = env.step_env(jax.random.key(t), state, action, params)
        return decode(env, obs), state, reward, terminated, env.is_truncated(state, params)

    rng = np.random.default_rng(0)
    endings, rewards = set(), set()
    for seed, scripted in [(0, True), (1, True), (2, False)]:
        reference = make_reference()
        ref_obs, _ = reference.reset(seed=seed)
        obs, state = start(reference.deck.idx)
        np.testing.assert_array_equal(obs, ref_obs)
        for t in range(params.max_steps_in_episode):
            action = reference_action(reference, rng) if scripted else int(rng.integers(env.num_actions))
            ref_obs, ref_reward, ref_terminated, ref_truncated, _ = reference.step(action)
            obs, state, reward, terminated, truncated = transition(state, action, t)
            assert np.array_equal(obs, ref_obs), (seed, t, obs, ref_obs)
            assert abs(float(reward) - ref_reward) < 1e-7, (seed, t, reward, ref_reward)
            assert (bool(terminated), bool(truncated)) == (ref_terminated, ref_truncated), (seed, t)
            rewards.add(round(ref_reward * env.episode_length, 4))
            if ref_terminated or ref_truncated:
                endings.add("terminated" if ref_terminated else "truncated")
                break
        else:
            pytest.fail("the reference episode did not end within the episode limit")
    # Every rule was exercised: a pair, a miss, a face-up first and second card, a quiet first flip; both endings.
    match = round(env.match_reward * env.episode_length, 4)
    assert rewards == {match, -2.0, -1.0, 0.0} and endings == {"terminated", "truncated"}


def oracle(env, state):
    """Reads the deck: turns the first face-down card, then its partner, so every turn finds a pair."""
    kinds = env.kind(state.decks[0])
    positions = jnp.arange(env.num_cards)
    partner = ~state.matched & (kinds == kinds[state.first]) & (positions != state.first)
    return jnp.where(state.first < 0, jnp.argmax(~state.matched), jnp.argmax(partner))


def remembering_player(env):
    """A perfect-memory player that sees only observations: ``act(memory, obs) -> action`` and
    ``update(memory, action, next_obs, done) -> memory``.

    It remembers the kind of every card it has seen (``known``, -1 if never
    seen) and which it has matched. A turn starts on a remembered pair if it
    knows one, else on a card never seen; the second card is the first one's
    remembered partner if it knows one, else a card never seen.
    """
    positions = jnp.arange(env.num_cards)

    def act(memory, obs):
        known, matched, first = memory
        open_known = (known >= 0) & ~matched
        per_kind = jnp.bincount(jnp.where(open_known, known, env.num_kinds), length=env.num_kinds + 1)
        in_a_known_pair = open_known & (per_kind[known] >= 2)
        unseen = known < 0
        partner = open_known & (known == known[first]) & (positions != first)
        starting = jnp.where(jnp.any(in_a_known_pair), jnp.argmax(in_a_known_pair), jnp.argmax(unseen))
        second = jnp.where(jnp.any(partner), jnp.argmax(partner), jnp.argmax(unseen))
        return jnp.where(first < 0, starting, second)

    def update(memory, action, next_obs, done):
        known, matched, first = memory
        shown = decode(env, next_obs)
        known = jnp.where(shown < env.num_kinds, shown, known)
        wasted = matched[action]
        pair = (first >= 0) & ~wasted & (action != first) & (known[action] == known[first])
        matched = matched | (pair & ((positions == action) | (positions == first)))
        first = jnp.where((first >= 0) | wasted, -1, action)
        fresh = forget(env)
        return jax.tree.map(lambda new, old: jnp.where(done, new, old), fresh, (known, matched, first))

    return act, update


def forget(env):
    """The remembering player's memory at the start of an episode: ``(known, matched, first)``."""
    return jnp.full(env.num_cards, -1), jnp.zeros(env.num_cards, bool), jnp.int32(-1)


@functools.lru_cache(maxsize=None)
def player(level):
    """The level's environment and its jitted ``(key, policy) -> trajectory``, one compile for every policy.

    ``NUM_ENVS`` environments step ``L + 1`` times under ``policy`` (RANDOM,
    ORACLE or REMEMBERING). The trajectory is time-major: ``shown`` and
    ``final_shown`` (the returned and the final observation, decoded),
    ``one_hot`` (whether every position's block of the observation is one-hot),
    ``reward``, ``terminated``, ``truncated`` and ``deck`` (the layout in play).
    """
    env = Concentration(**LEVELS[level][0])
    params = env.default_params
    act, update = remembering_player(env)

    @jax.jit
    def run(key, policy):
        reset_key, run_key = jax.random.split(key)
        obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(reset_key, NUM_ENVS), params)
        memory = jax.vmap(lambda _: forget(env))(jnp.arange(NUM_ENVS))

        def step(carry, key):
            obs, state, memory = carry
            act_key, step_key = jax.random.split(key)
            random = jax.random.randint(act_key, (NUM_ENVS,), 0, env.num_actions)
            scripted = jax.vmap(lambda s: oracle(env, s))(state)
            remembered = jax.vmap(act)(memory, obs)
            action = jnp.select([policy == RANDOM, policy == ORACLE], [random, scripted], remembered)
            next_obs, next_state, reward, terminated, truncated, info = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(step_key, NUM_ENVS), state, action, params
            )
            memory = jax.vmap(update)(memory, action, next_obs, terminated | truncated)
            blocks = next_obs.reshape(NUM_ENVS, env.num_cards, env.num_kinds + 1)
            one_hot = jnp.all(((blocks == 0) | (blocks == 1)) & (blocks.sum(axis=-1, keepdims=True) == 1), axis=(1, 2))
            out = dict(shown=decode(env, next_obs), final_shown=decode(env, info["final_observation"]), one_hot=one_hot)
            out.update(reward=reward, terminated=terminated, truncated=truncated, deck=next_state.decks[:, 0])
            return (next_obs, next_state, memory), out

        return jax.lax.scan(step, (obs, state, memory), jax.random.split(run_key, params.max_steps_in_episode + 1))[1]

    return env, run


@functools.lru_cache(maxsize=None)
def trajectory(level, policy):
    """:func:`player`'s trajectory for ``policy`` as numpy arrays, and the environment."""
    env, run = player(level)
    return env, jax.tree.map(np.asarray, run(jax.random.key(0), policy))


def episodes(played):
    """Returns and lengths of the episodes that ended in the trajectory ``played``, all environments together."""
    returns, lengths = [], []
    for env_index in range(NUM_ENVS):
        ends = np.flatnonzero(played["terminated"][:, env_index] | played["truncated"][:, env_index])
        for start, end in zip(np.r_[0, ends[:-1] + 1], ends):
            returns.append(played["reward"][start : end + 1, env_index].sum())
            lengths.append(end + 1 - start)
    return np.array(returns), np.array(lengths)


def expected_random_return(env):
    """The exact expected return of uniformly random flips, by propagating the distribution of game states.

    By symmetry a state is the sorted counts of face-down cards per kind and
    the count of the kind of the card turned first this turn (0 before it).
    From no card turned: a face-up card (probability ``f / n``) costs ``1 / L``;
    a face-down card of a kind with ``c`` left (``c / n``) is turned. Then a
    partner (``(c - 1) / n``) earns ``1 / (n / 2)``; anything else ``-2 / L``.
    """
    n, length = env.num_cards, env.episode_length
    distribution = {((n // env.num_kinds,) * env.num_kinds, 0): 1.0}
    expected = 0.0
    for _ in range(length):
        following = defaultdict(float)
        for (counts, turned), probability in distribution.items():
            if turned == 0:
                face_up = (n - sum(counts)) / n
                expected += probability * face_up * env.miss_reward
                following[(counts, 0)] += probability * face_up
                for count in set(counts) - {0}:
                    following[(counts, count)] += probability * counts.count(count) * count / n
            else:
                partner = (turned - 1) / n
                expected += probability * (partner * env.match_reward + (1 - partner) * 2 * env.miss_reward)
                following[(counts, 0)] += probability * (1 - partner)
                rest = list(counts)
                rest[rest.index(turned)] -= 2
                if any(rest):  # matching the last pair terminates: the mass leaves the game
                    following[(tuple(sorted(rest)), 0)] += probability * partner
        distribution = following
    return expected


@pytest.mark.parametrize("level", ["Easy", "Hard"])
def test_random_policy_earns_the_exact_expected_return(level):
    env, played = trajectory(level, RANDOM)
    returns, _ = episodes(played)
    expected = expected_random_return(env)
    assert returns.size >= NUM_ENVS
    assert abs(returns.mean() - expected) < 4 * returns.std() / np.sqrt(returns.size) + 1e-3, (returns.mean(), expected)


@pytest.mark.optimized
@pytest.mark.parametrize("level", ["Easy", "Hard"])
def test_oracle_reaches_the_maximum_return(level):
    env, played = trajectory(level, ORACLE)
    returns, lengths = episodes(played)
    assert returns.size >= NUM_ENVS
    np.testing.assert_allclose(returns, 1.0, atol=1e-5)
    np.testing.assert_array_equal(lengths, env.num_cards)
    assert not played["truncated"].any() and played["reward"].min() == 0.0


@pytest.mark.optimized
@pytest.mark.parametrize("level", ["Easy", "Hard"])
def test_remembering_player_clears_every_board(level):
    """It never wastes a flip, and every missed turn shows it two new cards, so it misses at most n / 2 turns."""
    env, played = trajectory(level, REMEMBERING)
    returns, lengths = episodes(played)
    assert returns.size >= NUM_ENVS and np.all(lengths < env.episode_length) and not played["truncated"].any()
    assert np.all(played["reward"] != np.float32(env.miss_reward))
    assert np.all(returns >= 1 - env.num_cards / env.episode_length - 1e-5)
    random_returns, _ = episodes(trajectory(level, RANDOM)[1])
    assert returns.min() > random_returns.max()


@pytest.mark.parametrize("level", ["Easy", "Hard"])
def test_jit_vmap_spaces_and_auto_reset(level):
    env, played = trajectory(level, RANDOM)
    assert played["one_hot"].all() and played["shown"].shape == (env.episode_length + 1, NUM_ENVS, env.num_cards)
    # Random flips never clear a board: every episode ends at the time limit, and the next starts all face down
    # with a freshly shuffled deck.
    assert not played["terminated"].any()
    np.testing.assert_array_equal(np.flatnonzero(played["truncated"].any(axis=1)), [env.episode_length - 1])
    assert played["truncated"][env.episode_length - 1].all()
    face_down = played["shown"][env.episode_length - 1] == env.num_kinds
    ended_face_down = played["final_shown"][env.episode_length - 1] == env.num_kinds
    assert face_down.all() and not ended_face_down.all(axis=1).any()
    decks = played["deck"]
    assert np.all(np.sort(decks[-1], axis=1) == np.arange(env.num_cards))
    assert not np.any(np.all(decks[-1] == decks[0], axis=1))


def test_bad_arguments_and_actions_are_refused():
    with pytest.raises(ValueError, match=r"deck_type is 'suits'; expected one of \['colors', 'ranks'\]"):
        Concentration(deck_type="suits")
    with pytest.raises(ValueError, match=r"num_decks is 0; expected a positive integer"):
        Concentration(num_decks=0)
    env = Concentration()
    state = env.state_for(jnp.arange(env.num_cards))
    with pytest.raises(ValueError, match=r"Concentration: action 52 is outside the action space Discrete\(52\)"):
        env.step(jax.random.key(1), state, 52, env.default_params)
