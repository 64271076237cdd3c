"""craftax:: and brax:: against the packages they adapt: the same keys and actions give the same transitions.

Each comparison is one jitted program (reset, then a ``lax.scan`` of steps, ``vmap``-ed over
environments) that steps the package's environment and ours from the same states; XLA merges their
identical computations, so it compiles little longer than ours alone. Compile times of one step on the
2-core CPU this was written on (shared, so ±50 %): Craftax-Classic ~22 s, Craftax ~45-60 s (so
Craftax-Classic is the one tested), brax's inverted_pendulum ~9 s.
"""

import json

import brax.envs
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from craftax.craftax_env import make_craftax_env_from_name
from tiny_run import TINY

from memorax.cli import main
from memorax.environments import make
from memorax.environments.adapters import brax as brax_adapter
from memorax.environments.adapters import craftax as craftax_adapter
from memorax.training import Run

CRAFTAX_ID = "Craftax-Classic-Symbolic-v1"
CRAFTAX_LIMIT = 3  # max_timesteps: a truncation every 3 steps
BRAX_LIMIT = 6  # episode_length
NUM_ENVS = 4
PHYSICS_ATOL = 1e-6  # XLA fuses brax's step differently in the two copies: its internal fields differ by ~1e-8
NUM_STEPS = 8


def same_tree(ours, theirs, atol: float = 0.0) -> jax.Array:
    """True where every leaf of ``ours`` equals the same leaf of ``theirs`` (floats within ``atol + atol |theirs|``)."""

    def same(a, b):
        if atol and jnp.issubdtype(a.dtype, jnp.inexact):
            return jnp.allclose(a, b, rtol=atol, atol=atol, equal_nan=True)
        return jnp.array_equal(a, b, equal_nan=True)

    return jnp.all(jnp.stack([same(a, b) for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True)]))


def craftax_rollouts():
    """Steps ours and craftax's own auto-reset env from each state ours reaches, with the same keys and actions.

    Both step the same state, so XLA merges their identical computations and the program compiles
    about as long as one craftax step; ``same_state`` checks that the states they return agree, so
    by induction whole trajectories do. Environment 0 starts at health 0, so dies at its first step.
    """
    env, params = make(f"craftax::{CRAFTAX_ID}", max_timesteps=CRAFTAX_LIMIT)
    reference = make_craftax_env_from_name(CRAFTAX_ID, auto_reset=True)
    no_reset = make_craftax_env_from_name(CRAFTAX_ID, auto_reset=False)

    def rollout(key, actions, health):
        reset_key, run_key = jax.random.split(key)
        obs, state = env.reset(reset_key, params)
        reference_obs, reference_state = reference.reset(reset_key, params.env_params)
        first = dict(same_obs=jnp.all(obs == reference_obs), same_state=same_tree(state, reference_state))

        def step(state, inputs):
            key, action = inputs
            obs, next_state, reward, terminated, truncated, info = env.step(key, state, action, params)
            reference_obs, reference_next, reference_reward, done, _ = reference.step(key, state, action, params.env_params)
            step_key, _ = jax.random.split(key)  # the split of gymnax's (and craftax's) auto-reset
            last_obs = no_reset.step(step_key, state, action, params.env_params)[0]
            ours = dict(obs=obs, reward=reward, terminated=terminated, truncated=truncated, final=info["final_observation"])
            theirs = dict(obs=reference_obs, reward=reference_reward, done=done, final=last_obs)
            return next_state, (ours, theirs, same_tree(next_state, reference_next))

        _, steps = jax.lax.scan(step, state.replace(player_health=health), (jax.random.split(run_key, NUM_STEPS), actions))
        return first, steps

    keys = jax.random.split(jax.random.key(0), NUM_ENVS)
    actions = jax.random.randint(jax.random.key(1), (NUM_ENVS, NUM_STEPS), 0, env.action_space(params).n)
    health = jnp.where(jnp.arange(NUM_ENVS) == 0, 0, 9)
    return jax.jit(jax.vmap(rollout))(keys, actions, health)


def brax_rollouts():
    """Steps ours and brax's environment from each state ours reaches, with the same keys and actions.

    -P and -V are compared with the full observation at reset (the masking is MaskObservation's, tested
    in test_wrappers.py; stepping them here would lengthen the compile). brax's task has gymnax's auto-reset written around it here, and ``EpisodeWrapper``'s time-limit
    rule; its ``EpisodeWrapper`` itself is not used, as XLA could not merge its step with ours (the
    comparison would compile twice as long). Environment 0 pushes the cart at full force (the pole
    falls within 2 steps); the others barely move it.
    """
    env, params = make("brax::inverted_pendulum", episode_length=BRAX_LIMIT)
    positions, _ = make("brax::inverted_pendulum-P", episode_length=BRAX_LIMIT)
    velocities, _ = make("brax::inverted_pendulum-V", episode_length=BRAX_LIMIT)
    reference = brax.envs.get_environment("inverted_pendulum")

    def rollout(key, actions):
        reset_key, run_key = jax.random.split(key)
        obs, state = env.reset(reset_key, params)
        reference_state = reference.reset(reset_key)
        first = dict(
            same_obs=jnp.all(obs == reference_state.obs),
            same_state=same_tree(state.brax_state, reference_state),
            positions=positions.reset(reset_key, params)[0],
            velocities=velocities.reset(reset_key, params)[0],
            obs=obs,
        )  # fmt: skip

        def step(state, inputs):
            key, action = inputs
            obs, next_state, reward, terminated, truncated, info = env.step(key, state, action, params)
            _, reset_key = jax.random.split(key)
            stepped = reference.step(state.brax_state, jnp.clip(action, -1.0, 1.0))
            time_out = state.time + 1 >= BRAX_LIMIT  # EpisodeWrapper's rule
            ended = (stepped.done > 0) | time_out
            restarted = jax.tree.map(lambda fresh, old: jnp.where(ended, fresh, old), reference.reset(reset_key), stepped)
            ours = dict(obs=obs, reward=reward, terminated=terminated, truncated=truncated, final=info["final_observation"])
            theirs = dict(obs=restarted.obs, reward=stepped.reward, done=stepped.done, time_out=time_out, final=stepped.obs)
            same_time = next_state.time == jnp.where(ended, 0, state.time + 1)
            same_state = same_tree(next_state.brax_state, restarted, PHYSICS_ATOL) & same_time
            return next_state, (ours, theirs, same_state)

        _, steps = jax.lax.scan(step, state, (jax.random.split(run_key, NUM_STEPS * 2), actions))
        return first, steps

    keys = jax.random.split(jax.random.key(2), NUM_ENVS)
    wobble = jax.random.uniform(jax.random.key(3), (NUM_ENVS, NUM_STEPS * 2, 1), minval=-0.02, maxval=0.02)
    actions = wobble.at[0].set(1.5)  # beyond the space: clipped to 1
    return jax.jit(jax.vmap(rollout))(keys, actions)


@pytest.fixture(scope="module")
def craftax_run():
    return craftax_rollouts()


@pytest.fixture(scope="module")
def brax_run():
    return brax_rollouts()


def test_craftax_matches_the_package_through_deaths_and_time_limits(craftax_run):
    first, (ours, theirs, same_state) = craftax_run
    assert first["same_obs"].all() and first["same_state"].all() and same_state.all()
    np.testing.assert_array_equal(ours["obs"], theirs["obs"])
    np.testing.assert_array_equal(ours["reward"], theirs["reward"])
    np.testing.assert_array_equal(ours["final"], theirs["final"])
    np.testing.assert_array_equal(ours["terminated"] | ours["truncated"], theirs["done"])
    # Environment 0 dies at its first step; every later episode (and every other environment) runs into the limit.
    died = np.zeros((NUM_ENVS, NUM_STEPS), bool)
    died[0, 0] = True
    np.testing.assert_array_equal(ours["terminated"], died)
    limit = np.zeros((NUM_ENVS, NUM_STEPS), bool)
    limit[0, CRAFTAX_LIMIT :: CRAFTAX_LIMIT] = True
    limit[1:, CRAFTAX_LIMIT - 1 :: CRAFTAX_LIMIT] = True
    np.testing.assert_array_equal(ours["truncated"], limit)
    assert ours["obs"].dtype == jnp.float32 and ours["obs"].shape[2:] == (1345,)


def test_craftax_spaces_checks_and_ids():
    env, params = make(f"craftax::{CRAFTAX_ID}")
    assert params.max_steps_in_episode == 10000 and env.action_space(params).n == 17
    assert env.observation_space(params).shape == (1345,) and env.name == f"craftax::{CRAFTAX_ID}"
    pixels, pixel_params = make("craftax::Craftax-Classic-Pixels-v1")
    obs, _ = jax.eval_shape(pixels.reset, jax.random.key(0), pixel_params)
    assert pixels.observation_space(pixel_params).shape == obs.shape == (63, 63, 3) and obs.dtype == jnp.float32
    assert craftax_adapter.ids() == [
        "Craftax-Symbolic-v1", "Craftax-Pixels-v1", "Craftax-Classic-Symbolic-v1", "Craftax-Classic-Pixels-v1"
    ]  # fmt: skip
    assert make("craftax::Craftax-Symbolic-v1")[0].action_space().n == 43
    with pytest.raises(ValueError, match=r"Discrete\(17\)"):
        env.step(jax.random.key(0), None, 17, params)
    with pytest.raises(ValueError, match="no parameters \\['max_steps'\\]"):
        make(f"craftax::{CRAFTAX_ID}", max_steps=5)
    with pytest.raises(ValueError, match="valid ids"):
        make("craftax::Craftax-Classic-Symbolic-AutoReset-v1")


def test_brax_matches_the_package_with_terminations_and_truncations_apart(brax_run):
    first, (ours, theirs, same_state) = brax_run
    assert first["same_obs"].all() and first["same_state"].all() and same_state.all()
    np.testing.assert_array_equal(ours["obs"], theirs["obs"])
    np.testing.assert_array_equal(ours["reward"], theirs["reward"])
    np.testing.assert_array_equal(ours["final"], theirs["final"])
    np.testing.assert_array_equal(ours["terminated"], theirs["done"] > 0)
    np.testing.assert_array_equal(ours["truncated"], theirs["time_out"])
    fell = np.zeros((NUM_ENVS, NUM_STEPS * 2), bool)
    fell[0, 1::2] = True  # the pole falls every second step at full force
    np.testing.assert_array_equal(ours["terminated"], fell)
    limit = np.zeros((NUM_ENVS, NUM_STEPS * 2), bool)
    limit[1:, BRAX_LIMIT - 1 :: BRAX_LIMIT] = True
    np.testing.assert_array_equal(ours["truncated"], limit)
    np.testing.assert_array_equal(first["positions"], first["obs"][:, :2])
    np.testing.assert_array_equal(first["velocities"], first["obs"][:, 2:])


def test_brax_velocity_entries_are_those_that_depend_on_qd():
    """Moving one joint velocity at a time changes exactly the entries VELOCITY_INDICES names, never a position.

    reacher is the task whose positions and velocities interleave; the other tasks of VELOCITY_INDICES
    pass this check too, but compiling each costs seconds.
    """
    task = "reacher"
    env = brax.envs.get_environment(task)
    q = env.sys.init_q + 0.05 * jax.random.normal(jax.random.key(0), (env.sys.q_size(),))
    qd = 0.3 * jax.random.normal(jax.random.key(1), (env.sys.qd_size(),))
    nudges = jnp.concatenate([jnp.zeros((1, qd.size)), 0.5 * jnp.eye(qd.size)])
    obs = jax.jit(jax.vmap(lambda nudge: env._get_obs(env.pipeline_init(q, qd + nudge))))(nudges)
    moved = np.flatnonzero(np.any(np.abs(np.asarray(obs[1:] - obs[0])) > 1e-6, axis=0))
    assert moved.tolist() == list(brax_adapter.VELOCITY_INDICES[task])
    kept = sorted([*brax_adapter.POSITION_INDICES[task], *brax_adapter.VELOCITY_INDICES[task]])
    assert kept == list(range(obs.shape[1]))


def test_brax_spaces_checks_and_ids():
    env, params = make("brax::inverted_pendulum")
    assert params.max_steps_in_episode == 1000 and env.name == "brax::inverted_pendulum"
    space = env.action_space(params)
    assert (space.shape, float(space.low), float(space.high)) == ((1,), -1.0, 1.0)
    assert env.observation_space(params).shape == (4,)
    positions, _ = make("brax::inverted_pendulum-P")
    assert positions.observation_space(params).shape == (2,)
    assert {"hopper-P", "hopper-V", "halfcheetah-P", "walker2d-V", "ant-P", "humanoid"} <= set(brax_adapter.ids())
    with pytest.raises(ValueError, match=r"Box\(-1, 1, \(1,\)\)"):
        env.step(jax.random.key(0), None, np.ones(2, np.float32), params)
    with pytest.raises(ValueError, match="valid ids"):
        make("brax::humanoid-P")
    with pytest.raises(ValueError, match="default hopper observation of 11 entries"):
        make("brax::hopper-P", exclude_current_positions_from_observation=False)
    with pytest.raises(ValueError, match="episode_length 0"):
        make("brax::hopper", episode_length=0)
    with pytest.raises(ValueError, match=r"brax::hopper rejected the arguments \['nope'\]: .*unexpected keyword"):
        make("brax::hopper", nope=1)


def test_craftax_trains_from_the_command_line_with_a_shorter_time_limit(tmp_path):
    """PPO on Craftax-Classic's symbolic observations, its time limit cut by ``--env-kwargs`` to keep evaluation short."""
    run = Run(tmp_path / "run")
    env_id, limit = "craftax::Craftax-Classic-Symbolic-v1", "max_timesteps=100"
    main(["train", "--env", env_id, "--env-kwargs", limit, *TINY, "--run-dir", str(run.directory), "--logger"])
    records = run.records()
    assert [r["interval"] for r in records] == [0, 1, 2] and all(np.isfinite(r["loss"]) for r in records)
    assert 1 <= json.loads(run.evaluation.read_text())["mean_length"] <= 100


def test_brax_trains_from_the_command_line(tmp_path):
    """PPO with its Gaussian head on brax's continuous actions, through ``memorax train``."""
    run = Run(tmp_path / "run")
    main(["train", "--env", "brax::inverted_pendulum-V", *TINY, "--run-dir", str(run.directory), "--logger"])
    records = run.records()
    assert [r["interval"] for r in records] == [0, 1, 2] and records[-1]["env_steps"] == 192
    assert all(np.isfinite(r["loss"]) for r in records)
