"""popgym_arcade:: and pobax:: against the packages themselves: same keys and actions, same transitions through episode ends."""

import json
import sys

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from popgym_arcade.environments.cartpole import CartPole
from popgym_arcade.registration import REGISTERED_ENVIRONMENTS
from tiny_run import TINY

from memorax.cli import main
from memorax.environments import make
from memorax.environments.adapters import pobax as pobax_adapter
from memorax.environments.adapters import popgym_arcade as arcade_adapter

NUM_ENVS, NUM_STEPS = 4, 64
# popgym-arcade's CartPole with a 20-step limit: under random pushes some poles fall (terminated), the others
# reach the limit (truncated). Pixel games compile slowly; CartPole at 128x128, the smaller size, is among the fastest.
CARTPOLE_LIMIT = 20


def compare(env, params, reference_reset, reference_step, key, logits):
    """Plays ``env`` and the package's environment side by side with the same keys and random actions.

    ``reference_reset(key) -> (obs, state)`` and ``reference_step(key, state, action) -> (obs, state,
    reward, done, info)`` are the package's own; where ``done``, the reference restarts from the key that
    memorax's auto-reset gives our reset (``step``'s key split into the step's and the reset's).
    Returns ``[steps, envs, ...]`` arrays of both sides, vmapped over ``NUM_ENVS`` inside one ``jit``.
    """

    def one_env(key):
        reset_key, run_key = jax.random.split(key)
        obs, state = env.reset(reset_key, params)
        reference_obs, reference_state = reference_reset(reset_key)
        first = {"obs": obs, "reference_obs": jnp.asarray(reference_obs, jnp.float32)}

        def step(carry, key):
            state, reference_state = carry
            action_key, step_key = jax.random.split(key)
            action = jax.random.categorical(action_key, logits)
            obs, state, reward, terminated, truncated, info = env.step(step_key, state, action, params)
            inner_key, reset_key = jax.random.split(step_key)
            final, stepped, reference_reward, done, reference_info = reference_step(inner_key, reference_state, action)
            fresh_obs, fresh = reference_reset(reset_key)
            reference_state = jax.tree.map(lambda new, old: jnp.where(done, new, old), fresh, stepped)
            ours = dict(obs=obs, final=info["final_observation"], reward=reward, terminated=terminated, truncated=truncated)
            theirs = dict(obs=jnp.where(done, fresh_obs, final).astype(jnp.float32), final=jnp.asarray(final, jnp.float32),
                          reward=jnp.float32(reference_reward), done=jnp.asarray(done, bool), info=reference_info)  # fmt: skip
            return (state, reference_state), (ours, theirs)

        _, (ours, theirs) = jax.lax.scan(step, (state, reference_state), jax.random.split(run_key, NUM_STEPS))
        return first, ours, theirs

    return jax.jit(jax.vmap(one_env, out_axes=1))(jax.random.split(key, NUM_ENVS))


def assert_same_transitions(env, params, first, ours, theirs):
    np.testing.assert_array_equal(first["obs"], first["reference_obs"])
    for name in ("obs", "final", "reward"):
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    np.testing.assert_array_equal(ours["terminated"] | ours["truncated"], theirs["done"])
    space = env.observation_space(params)
    assert ours["obs"].shape[2:] == space.shape and ours["obs"].dtype == jnp.float32
    assert bool(((ours["obs"] >= space.low) & (ours["obs"] <= space.high)).all())
    assert ours["terminated"].any(), "the comparison should cover terminations"


def test_arcade_ids_are_the_registered_games_and_their_partially_observable_twins():
    assert arcade_adapter.ids() == [*REGISTERED_ENVIRONMENTS, *(f"{name}-Partial" for name in REGISTERED_ENVIRONMENTS)]
    for env_id, partial in (("MineSweeperHard", False), ("MineSweeperHard-Partial", True)):
        env, params = make(f"popgym_arcade::{env_id}")
        assert env.env.partial_obs == partial and env.name == env_id and env.env.board_size == 8
        assert env.observation_space(params).shape == (128, 128, 3) and env.action_space(params).n == 5
    env, _ = make("popgym_arcade::BreakoutEasy", obs_size=256, partial_obs=True)
    assert env.name == "BreakoutEasy-Partial" and env.observation_space().shape == (256, 256, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"obs_size": 64}, r"obs_size=64; expected one of \[128, 256\]"), ({"partial_obs": False}, r"got \['partial_obs'\]")],
)
def test_arcade_make_names_a_bad_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make("popgym_arcade::SkittlesEasy-Partial", **kwargs)


def test_a_missing_arcade_package_is_named_with_its_own_install_command(monkeypatch):
    """popgym-arcade is not in memorax[envs] (its requirement installs over gymnax's files)."""
    monkeypatch.setitem(sys.modules, "popgym_arcade", None)
    monkeypatch.delitem(sys.modules, "memorax.environments.adapters.popgym_arcade")
    with pytest.raises(ValueError, match=r"need the popgym-arcade package .* pip install --no-deps popgym-arcade==0\.0\.7\.$"):
        make("popgym_arcade::CartPoleEasy")


@pytest.mark.optimized
def test_arcade_steps_as_the_game_and_splits_its_done_by_the_time_limit():
    env = arcade_adapter.ArcadeEnvironment(CartPole(max_steps_in_episode=CARTPOLE_LIMIT, partial_obs=True))
    raw, params = CartPole(max_steps_in_episode=CARTPOLE_LIMIT, partial_obs=True), env.default_params
    # CartPole's step_env calls gymnax 1.0.1's discount, which needs is_terminated (see the adapter).
    raw.is_terminated = raw.is_terminal

    def reference_step(key, state, action):
        return raw.step_env(key, state, action, params.game)

    reference_reset = lambda key: raw.reset_env(key, params.game)  # noqa: E731
    first, ours, theirs = compare(env, params, reference_reset, reference_step, jax.random.key(0), jnp.zeros(5))
    assert_same_transitions(env, params, first, ours, theirs)
    assert (ours["truncated"] & ~ours["terminated"]).any(), "the comparison should cover truncations"
    # The game's own info names the time limit: the adapter's truncations are exactly those ends.
    np.testing.assert_array_equal(ours["truncated"], theirs["done"] & theirs["info"]["truncated"])
    # CartPole tests its limit on the state before the step: truncated episodes last limit + 1 steps, which the
    # default max_steps_in_episode (the length memorax's evaluation waits for) allows.
    ends, truncated = np.asarray(ours["truncated"] | ours["terminated"]).T, np.asarray(ours["truncated"]).T
    lengths = [np.diff(np.flatnonzero(end), prepend=-1)[cut[end]] for end, cut in zip(ends, truncated)]
    assert set(np.concatenate(lengths)) == {CARTPOLE_LIMIT + 1} == {params.max_steps_in_episode}


def test_pobax_ids_build_with_their_spaces():
    # RockSample draws its map and brax parses its MuJoCo model when built (a second each): one of each here.
    brax = [*pobax_adapter.BRAX_TASKS, *(name for name, spec in pobax_adapter.MASKED.items() if spec["env_str"] in pobax_adapter.BRAX_TASKS)]
    for env_id in (env_id for env_id in pobax_adapter.ids() if env_id not in [*pobax_adapter.ROCKSAMPLES[1:], *brax]):
        env, params = make(f"pobax::{env_id}")
        assert len(env.observation_space(params).shape) == 1, env_id
    hopper, params = make("pobax::Hopper-P-v0")  # brax's hopper, positions only: the first 5 of 11 entries
    assert hopper.observation_space(params).shape == (5,) and hopper.action_space(params).shape == (3,)
    with pytest.raises(ValueError, match=r"pobax::tmaze_5 rejected the arguments \['corridor'\]"):
        make("pobax::tmaze_5", corridor=3)
    tmaze, params = make("pobax::tmaze_5")
    with pytest.raises(ValueError, match=r"^pobax::tmaze_5: action 9 is outside the action space Discrete\(4\)"):
        tmaze.step(jax.random.key(0), tmaze.reset(jax.random.key(0), params)[1], jnp.int32(9), params)


TMAZE, TMAZE_PARAMS = make("pobax::tmaze_5")


@pytest.mark.parametrize("env_id", ["tmaze_5", "tiger-alt-start"])
def test_pobax_steps_as_pobax(env_id):
    env, params = (TMAZE, TMAZE_PARAMS) if env_id == "tmaze_5" else make(f"pobax::{env_id}")
    raw = env.env  # pobax's own environment, stepped by its own step_env below
    num_actions = env.action_space(params).n
    if env_id == "tiger-alt-start":
        # POMDP.step_env is jitted with the action static: step it with each concrete action.
        branches = [lambda key, state, a=a: raw.step_env(key, state, a, params) for a in range(num_actions)]
        reference_step = lambda key, state, action: jax.lax.switch(action, branches, key, state)  # noqa: E731
    else:
        reference_step = lambda key, state, action: raw.step_env(key, state, action, params)  # noqa: E731
    reference_reset = lambda key: raw.reset_env(key, params)  # noqa: E731
    first, ours, theirs = compare(env, params, reference_reset, reference_step, jax.random.key(0), jnp.zeros(num_actions))
    assert_same_transitions(env, params, first, ours, theirs)
    assert not ours["truncated"].any()  # no episode here comes near the 1000-step limit


def test_pobax_truncates_at_max_steps_in_episode():
    params = TMAZE_PARAMS.replace(max_steps_in_episode=5)
    obs, state = TMAZE.reset(jax.random.key(0), params)
    for step in range(1, 12):  # always west: back against the start, never at the junction
        obs, state, reward, terminated, truncated, info = TMAZE.step(jax.random.key(step), state, 3, params)
        assert not terminated and bool(truncated) == (step % 5 == 0) and int(state.time) == step % 5
    assert TMAZE_PARAMS.max_steps_in_episode == 1000


def test_pobax_masked_cartpole_is_gymnax_cartpole_without_velocities():
    env, params = make("pobax::CartPole-P-v0")
    cartpole, cartpole_params = gymnax.make("CartPole-v1")
    keys, actions = jax.random.split(jax.random.key(0), 300), jnp.arange(300) % 3 // 2  # long pushes: episodes end

    def play(env, params):
        def step(state, inputs):
            key, action = inputs
            obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
            return state, (obs, info["final_observation"], reward, terminated, truncated)

        return jax.lax.scan(step, env.reset(keys[0], params)[1], (keys, actions))[1]

    ours, theirs = jax.jit(lambda: (play(env, params), play(cartpole, cartpole_params)))()
    for name, mine, reference in zip(("obs", "final", "reward", "terminated", "truncated"), ours, theirs):
        expected = reference[:, jnp.array([0, 2])] if name in ("obs", "final") else reference
        np.testing.assert_array_equal(mine, expected, err_msg=name)
    assert ours[3].any()


def test_arcade_trains_from_the_command_line_on_pixels(tmp_path):
    """PPO with the convolutional encoder (chosen for 128 x 128 images), through ``memorax train``."""
    run = ["--env", "popgym_arcade::CountRecallEasy-Partial", *TINY]
    main(["train", *run, "--run-dir", str(tmp_path / "run"), "--logger"])
    evaluation = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    # CountRecallEasy ends once its 26 cards are played (one per confirming step), or after 126 steps;
    # each correct count pays 1/26.
    assert 26 <= evaluation["mean_length"] <= 126 and 0 <= evaluation["mean_return"] <= 1


def test_pobax_trains_from_the_command_line(tmp_path):
    main(["train", "--env", "pobax::tmaze_5", *TINY, "--run-dir", str(tmp_path / "run"), "--logger"])
    evaluation = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    # A T-Maze episode pays once, at the junction (4 for the cued arm, -0.1 for the other), 7 steps away at least.
    assert -0.1 <= evaluation["mean_return"] <= 4 and evaluation["mean_length"] >= 7
