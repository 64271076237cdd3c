"""navix:: and xminigrid:: against the packages they adapt: the same keys and actions give the same transitions.

Each comparison is one jitted program (reset, then a ``lax.scan`` of random actions, ``vmap``-ed over
``NUM_ENVS`` environments) that steps ours and, from the same state, the package's own transition and
reset, through terminations, truncations and the resets after them. The two share their computations,
so XLA compiles about one environment's worth.
"""

import json

import jax
import jax.numpy as jnp
import navix
import numpy as np
import pytest
import xminigrid
from tiny_run import TINY
from xminigrid.core.constants import TILES_REGISTRY, Colors, Tiles
from xminigrid.core.goals import AgentNearGoal
from xminigrid.core.rules import EmptyRule
from xminigrid.types import RuleSet

from memorax.cli import main
from memorax.environments import make
from memorax.environments.adapters import navix as navix_adapter
from memorax.environments.adapters import xminigrid as xminigrid_adapter
from memorax.training import Run

NUM_ENVS, NUM_STEPS = 4, 48
# Balls that move at random (drawn from the key in navix's state) and terminate the episode when hit, a time
# limit that truncates, and navix's reward with its cost per action (so rewards are non-zero, and the action
# that navix's own step ignores after an episode end would show): every kind of step within NUM_STEPS.
NAVIX_ID = "Navix-Dynamic-Obstacles-5x5-Random-v0"
NAVIX_KWARGS = {"max_steps": 10, "reward_fn": navix.rewards.DEFAULT_TASK}
# An XLand-MiniGrid task built offline (benchmarks are downloads): stand next to a red ball and move forward.
RED_BALL = TILES_REGISTRY[Tiles.BALL, Colors.RED]
NEAR_RED_BALL = RuleSet(
    goal=AgentNearGoal(tile=RED_BALL).encode(), rules=EmptyRule().encode()[None], init_tiles=jnp.stack([RED_BALL] * 4)
)
XLAND_ID, XLAND_KWARGS = "XLand-MiniGrid-R1-9x9", {"max_steps": 12, "ruleset": NEAR_RED_BALL}


def play_side_by_side(env, params, reference_reset, reference_step, key, comparable=lambda state: state):
    """Our steps, each next to the package's own transition of the same state with the same action and keys.

    Our state is the package's (a navix ``Timestep``, an xminigrid ``TimeStep``). ``reference_step(ts, action)
    -> (ts, ended)`` is the package's transition; where it ends an episode, the expected next state is
    ``reference_reset`` from the key that memorax's auto-reset gives our reset (``step``'s key, split into
    the step's and the reset's). As the states must be equal at every step (``comparable`` drops what may
    differ), this is the same as playing the package's environment on its own. Returns the first
    observations and ``[steps, envs, ...]`` arrays of both sides.
    """
    num_actions = env.action_space(params).n

    def same(ours, theirs):
        equal = jax.tree.map(lambda a, b: jnp.all(a == b), comparable(ours), comparable(theirs))
        return jnp.all(jnp.stack(jax.tree.leaves(equal)))

    def one_env(key):
        reset_key, run_key = jax.random.split(key)
        obs, state = env.reset(reset_key, params)
        ts = reference_reset(reset_key)
        first = (obs, ts.observation.astype(jnp.float32), same(state, ts))

        def step(state, key):
            action_key, step_key = jax.random.split(key)
            action = jax.random.randint(action_key, (), 0, num_actions)
            stepped, ended = reference_step(state, action)
            fresh = reference_reset(jax.random.split(step_key)[1])
            expected = jax.tree.map(lambda new, old: jnp.where(ended, new, old), fresh, stepped)
            obs, state, reward, terminated, truncated, info = env.step(step_key, state, action, params)
            ours = dict(obs=obs, final=info["final_observation"], reward=reward, terminated=terminated, truncated=truncated)
            theirs = dict(obs=expected.observation.astype(jnp.float32), final=stepped.observation.astype(jnp.float32),
                          reward=stepped.reward, ended=ended, stepped=stepped, same_state=same(state, expected))  # fmt: skip
            return state, (ours, theirs)

        _, (ours, theirs) = jax.lax.scan(step, state, jax.random.split(run_key, NUM_STEPS))
        return first, ours, theirs

    return jax.jit(jax.vmap(one_env, out_axes=(0, 1, 1)))(jax.random.split(key, NUM_ENVS))


def assert_same_transitions(env, params, first, ours, theirs):
    """Same states, observations (after resets too), final observations, rewards, episode ends; observations in the space."""
    np.testing.assert_array_equal(first[0], first[1])
    assert first[2].all() and theirs["same_state"].all()
    for name in ("obs", "final", "reward"):
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    np.testing.assert_array_equal(ours["terminated"] | ours["truncated"], theirs["ended"])
    space = env.observation_space(params)
    assert ours["obs"].shape[2:] == space.shape and bool(jax.vmap(jax.vmap(space.contains))(ours["obs"]).all())
    # Each kind of step happened, so the comparison covers it.
    assert (ours["reward"] != 0).any() and ours["terminated"].any() and (ours["truncated"] & ~ours["terminated"]).any()


def test_navix_steps_as_navix_and_each_episode_starts_from_navix_reset_with_our_key():
    env, params = make(f"navix::{NAVIX_ID}", **NAVIX_KWARGS)
    reference = navix.make(NAVIX_ID, **NAVIX_KWARGS)

    def reference_step(ts, action):
        stepped = reference.step(ts, action)
        return stepped, stepped.step_type > 0

    # Our resets keep a blank tile where navix's own render the grid's background for RGB observations.
    without_cache = lambda ts: ts.replace(state=ts.state.replace(cache=None))  # noqa: E731
    first, ours, theirs = play_side_by_side(env, params, reference.reset, reference_step, jax.random.key(0), without_cache)
    assert_same_transitions(env, params, first, ours, theirs)
    np.testing.assert_array_equal(ours["terminated"], theirs["stepped"].step_type == navix.StepType.TERMINATION)


def test_xland_with_a_ruleset_steps_as_xminigrid_and_each_episode_starts_from_its_reset_with_our_key():
    env, params = make(f"xminigrid::{XLAND_ID}", **XLAND_KWARGS)
    reference, reference_params = xminigrid.make(XLAND_ID, **XLAND_KWARGS)

    def reference_step(ts, action):
        stepped = reference.step(reference_params, ts, action)
        return stepped, stepped.last()

    reference_reset = lambda key: reference.reset(reference_params, key)  # noqa: E731
    first, ours, theirs = play_side_by_side(env, params, reference_reset, reference_step, jax.random.key(0))
    assert_same_transitions(env, params, first, ours, theirs)
    np.testing.assert_array_equal(ours["terminated"], theirs["stepped"].discount == 0)


@pytest.mark.parametrize("observation_fn", list(navix_adapter.OBSERVATION_HIGH), ids=lambda f: f.__name__)
def test_navix_spaces_fit_each_accepted_observation_function(observation_fn):
    env, params = make("navix::Navix-DoorKey-5x5-v0", observation_fn=observation_fn)
    obs, _ = jax.eval_shape(env.reset, jax.random.key(0), params)
    space = env.observation_space(params)
    assert (obs.shape, obs.dtype) == (space.shape, jnp.float32) and env.action_space(params).n == 7
    assert params.max_steps_in_episode == 100


def test_ids_spaces_and_errors():
    assert len(navix_adapter.ids()) == 41 and {"Navix-Empty-5x5-v0", "Navix-KeyCorridorS3R1-v0"} <= set(navix_adapter.ids())
    assert len(xminigrid_adapter.ids()) == 44
    assert {"MiniGrid-Empty-5x5", "MiniGrid-MemoryS8", "XLand-MiniGrid-R9-25x25"} <= set(xminigrid_adapter.ids())
    env, params = make("xminigrid::MiniGrid-MemoryS8", view_size=5)
    assert env.observation_space(params).shape == (5, 5, 2) and env.action_space(params).n == 6
    assert params.max_steps_in_episode == 320 and env.name == "xminigrid::MiniGrid-MemoryS8"
    with pytest.raises(ValueError, match="observation_fn categorical"):
        make("navix::Navix-Empty-5x5-v0", observation_fn=navix.observations.categorical)
    with pytest.raises(ValueError, match="rejected the arguments"):
        make("navix::Navix-Empty-5x5-v0", size=7)
    with pytest.raises(ValueError, match=r"has no parameters \['size'\]; its parameters are .*'view_size'"):
        make("xminigrid::MiniGrid-Empty-5x5", size=7)
    with pytest.raises(ValueError, match="valid ids"):
        make("xminigrid::MiniGrid-Empty-7x7")


@pytest.mark.parametrize("env_id", ["navix::Navix-Empty-5x5-v0", "xminigrid::MiniGrid-Empty-5x5"])
def test_trains_from_the_command_line(env_id, tmp_path):
    """PPO on each suite's symbolic grid (flattened into the MLP), through ``memorax train``."""
    run = Run(tmp_path / "run")
    main(["train", "--env", env_id, *TINY, "--run-dir", str(run.directory), "--logger"])
    records = run.records()
    assert [r["interval"] for r in records] == [0, 1, 2] and records[-1]["env_steps"] == 192
    assert all(np.isfinite(r["loss"]) for r in records)
    evaluation = json.loads(run.evaluation.read_text())
    # Reaching the goal pays at most 1, once; evaluation waits for every episode to end.
    assert 0 <= evaluation["mean_return"] <= 1 and 1 <= evaluation["mean_length"] <= 100
