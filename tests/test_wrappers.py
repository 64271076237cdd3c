"""Wrappers: what each does to observations, rewards, actions and episodes, under jit and vmap, final observations included."""

import copy
import pickle

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import spaces
from rollouts import play, random_policy

from memorax.environments import (
    ClipAction,
    DelayedObservation,
    Environment,
    FlickerObservation,
    FrameStack,
    MaskObservation,
    NoisyObservation,
    NormalizeObservation,
    NormalizeReward,
    RecordEpisodeStatistics,
    ScaleReward,
    TrialParams,
    Trials,
    TwoArmedBandit,
    make,
)
from memorax.environments.environment import EnvParams, EnvState

NUM_ENVS, STEPS = 32, 300


def run(env, params, seed=0):
    """Random actions for STEPS steps in NUM_ENVS environments; returns (obs, terminated|truncated, info)."""
    trajectory = play(env, params, random_policy(env, params), jax.random.key(seed), NUM_ENVS, STEPS)
    return trajectory["next_obs"], trajectory["terminated"] | trajectory["truncated"], trajectory["info"]


@pytest.fixture(scope="module")
def cartpole():
    return make("gymnax::CartPole-v1")


def test_mask_observation_keeps_the_chosen_entries(cartpole):
    env, params = cartpole
    full = run(env, params)
    masked = run(MaskObservation(env, indices=(0, 2)), params)
    np.testing.assert_array_equal(masked[0], full[0][..., [0, 2]])
    np.testing.assert_array_equal(masked[2]["final_observation"], full[2]["final_observation"][..., [0, 2]])
    space = MaskObservation(env, indices=(0, 2)).observation_space(params)
    assert space.shape == (2,)
    np.testing.assert_allclose(space.high, [4.8, 0.41887903], rtol=1e-6)


def test_mask_observation_rejects_indices_out_of_range(cartpole):
    env, _ = cartpole
    with pytest.raises(ValueError, match=r"MaskObservation: indices \[0, 7\] do not select from observations of size 4"):
        MaskObservation(env, indices=(0, 7))


def test_noisy_observation_adds_noise_of_the_given_std(cartpole):
    env, params = cartpole
    clean, noisy = run(env, params), run(NoisyObservation(env, std=0.3), params)
    # The same key splits drive the wrapped environment, so the dynamics are identical.
    noise = noisy[0] - clean[0]
    assert abs(noise.std() - 0.3) < 0.01 and abs(noise.mean()) < 0.01


def test_noisy_observation_of_one_hot_cards_is_float32_in_an_unbounded_space():
    env, params = make("memorax::RepeatFirst-Easy")
    noisy = NoisyObservation(env, std=0.5)
    obs = run(noisy, params)[0]
    space = noisy.observation_space(params)
    assert obs.dtype == space.dtype == jnp.float32 and obs.shape[-1:] == space.shape
    assert (obs < 0).any() and (obs > 1).any()
    outside = jnp.asarray(obs.reshape(-1, obs.shape[-1])[(obs < 0).any(axis=-1).reshape(-1)][0])
    assert space.contains(outside) and not env.observation_space(params).contains(outside)


def test_flicker_observation_blanks_with_probability_p():
    env, params = make("memorax::RepeatFirst-Easy")
    obs = run(FlickerObservation(env, p=0.25), params)[0]
    blank = np.all(obs == 0, axis=-1)
    assert abs(blank.mean() - 0.25) < 0.02
    assert np.all(obs[~blank].sum(axis=-1) == 1)


def test_normalize_observation_standardises_over_time(cartpole):
    env, params = cartpole
    obs = run(NormalizeObservation(env), params)[0]
    late = obs[STEPS // 2 :].reshape(-1, 4)
    np.testing.assert_allclose(late.mean(axis=0), 0, atol=0.3)
    np.testing.assert_allclose(late.std(axis=0), 1, atol=0.3)


def test_a_window_of_one_normalised_frame_is_the_normalised_observation(cartpole):
    """Between episode ends the normalised final observation is the step's own; were it pushed into the window
    (normalised with the statistics before the step), the first frames were divided by sqrt(epsilon)."""
    env, params = cartpole
    normalized, normalized_done, normalized_info = run(NormalizeObservation(env), params)
    stacked, _, stacked_info = run(FrameStack(NormalizeObservation(env), num_frames=1), params)
    assert normalized_done.any()
    np.testing.assert_allclose(stacked, normalized, rtol=1e-6)
    np.testing.assert_allclose(stacked_info["final_observation"], normalized_info["final_observation"], rtol=1e-6)
    final = normalized_info["final_observation"]
    np.testing.assert_array_equal(final[~normalized_done], normalized[~normalized_done])


def test_record_episode_statistics_and_resets_follow_gymnax_flags():
    """CartPole with a 20-step limit ends episodes both ways (sometimes at once) under random play."""
    env, params = make("gymnax::CartPole-v1")
    params = params.replace(max_steps_in_episode=20)
    _, done, info = run(RecordEpisodeStatistics(env), params)
    terminated, truncated, episode, final = info["terminated"], info["truncated"], info["episode"], info["final_observation"]
    assert terminated.any() and (truncated & ~terminated).any()
    np.testing.assert_array_equal(done, terminated | truncated)
    np.testing.assert_array_equal(episode["done"], done)
    # A truncation is exactly the time limit; a termination exactly CartPole's failure, read off the final observation.
    np.testing.assert_array_equal(truncated, episode["length"] == 20)
    failed = (np.abs(final[..., 0]) > 2.4) | (np.abs(final[..., 2]) > 12 * 2 * np.pi / 360)
    np.testing.assert_array_equal(terminated, failed)
    # CartPole pays 1 per step: an episode's return equals its length, and lengths are the gaps between ends.
    np.testing.assert_array_equal(episode["return"][done], episode["length"][done])
    for env_index in range(NUM_ENVS):
        ends = np.flatnonzero(done[:, env_index])
        np.testing.assert_array_equal(episode["length"][ends[1:], env_index], np.diff(ends))


def test_auto_reset_starts_fresh_and_keeps_the_final_observation():
    env, params = make("gymnax::CartPole-v1")
    obs, done, info = run(env, params)
    final = info["final_observation"]
    assert done.any()
    np.testing.assert_array_equal(final[~done], obs[~done])
    assert np.all(np.abs(obs[done]) <= 0.05), "CartPole resets uniformly within ±0.05"
    assert np.all(np.abs(final[done]).max(-1) > 0.05)


def test_wrappers_compose(cartpole):
    env, params = cartpole
    stacked = RecordEpisodeStatistics(FlickerObservation(NoisyObservation(MaskObservation(env, (0, 2)), 0.1), 0.1))
    obs, _, info = run(stacked, params)
    assert obs.shape == (STEPS, NUM_ENVS, 2) and "episode" in info
    assert stacked.observation_space(params).shape == (2,)
    assert stacked.num_actions == 2


def test_stacked_noise_wrappers_draw_independent_noise(cartpole):
    env, params = cartpole
    clean = run(env, params)[0]
    once = run(NoisyObservation(env, std=0.3), params)[0] - clean
    twice = run(NoisyObservation(NoisyObservation(env, std=0.3), std=0.3), params)[0] - clean
    assert abs(twice.std() - 0.3 * np.sqrt(2)) < 0.01
    assert abs(np.corrcoef(once.ravel(), (twice - once).ravel())[0, 1]) < 0.02


# -- observation histories ------------------------------------------------------------------------


def back_in_episode(trajectory, depth):
    """What each step shows ``depth`` steps back within its episode (the episode's first observation where it is younger).

    Returns ``(after_each_step, at_each_final_observation)``, both ``[T, N, ...]``, from a trajectory of the unwrapped environment.
    """
    obs, next_obs, final = trajectory["obs"], trajectory["next_obs"], trajectory["info"]["final_observation"]
    done = trajectory["terminated"] | trajectory["truncated"]
    shown, shown_final = np.zeros_like(next_obs), np.zeros_like(next_obs)
    for env_index in range(done.shape[1]):
        episode = [obs[0, env_index]]
        for t in range(done.shape[0]):
            ended = [*episode, final[t, env_index]]
            shown_final[t, env_index] = ended[max(len(ended) - 1 - depth, 0)]
            episode = [next_obs[t, env_index]] if done[t, env_index] else ended
            shown[t, env_index] = episode[max(len(episode) - 1 - depth, 0)]
    return shown, shown_final


@pytest.fixture(scope="module")
def cartpole_trajectory(cartpole):
    env, params = cartpole
    return play(env, params, random_policy(env, params), jax.random.key(0), NUM_ENVS, STEPS)


@pytest.mark.parametrize("delay", [0, 3])
def test_delayed_observation_shows_the_observation_of_delay_steps_ago(cartpole, cartpole_trajectory, delay):
    """Within an episode ``o_{t-delay}``, its reset observation before that; never one of the previous episode."""
    env, params = cartpole
    delayed = run(DelayedObservation(env, delay=delay), params)
    shown, shown_final = back_in_episode(cartpole_trajectory, delay)
    np.testing.assert_array_equal(delayed[0], shown)
    np.testing.assert_array_equal(delayed[2]["final_observation"], shown_final)
    np.testing.assert_array_equal(delayed[1], cartpole_trajectory["terminated"] | cartpole_trajectory["truncated"])


def test_frame_stack_concatenates_the_last_frames_of_the_episode(cartpole, cartpole_trajectory):
    env, params = cartpole
    stacked = FrameStack(env, num_frames=3)
    obs, _, info = run(stacked, params)
    frames = [back_in_episode(cartpole_trajectory, depth) for depth in (2, 1, 0)]
    np.testing.assert_array_equal(obs, np.concatenate([shown for shown, _ in frames], axis=-1))
    np.testing.assert_array_equal(info["final_observation"], np.concatenate([final for _, final in frames], axis=-1))
    space = stacked.observation_space(params)
    assert space.shape == (12,)
    np.testing.assert_array_equal(space.high, np.tile(np.broadcast_to(env.observation_space(params).high, (4,)), 3))


class Frames(Environment):
    """A 2x2 RGB image filled with the step's index; episodes of 3 steps (a test fixture for image observations)."""

    num_actions = 1

    @property
    def default_params(self):
        return EnvParams(max_steps_in_episode=3)

    def observation_space(self, params=None):
        return spaces.Box(0.0, 255.0, (2, 2, 3), jnp.float32)

    def reset_env(self, key, params):
        return jnp.zeros((2, 2, 3)), EnvState(time=0)

    def step_env(self, key, state, action, params):
        state = state.replace(time=state.time + 1)
        return jnp.full((2, 2, 3), state.time, jnp.float32), state, 0.0, jnp.array(False), {}


def test_frame_stack_stacks_images_as_channels():
    env = FrameStack(Frames(), num_frames=2)
    params = env.default_params
    assert env.observation_space(params).shape == (2, 2, 6)
    obs, state = env.reset(jax.random.key(0), params)
    shown, finals = [obs], []
    for _ in range(4):
        obs, state, _, _, _, info = env.step(jax.random.key(0), state, 0, params)
        shown.append(obs)
        finals.append(info["final_observation"])
    # Channels 0-2 hold the older frame, 3-5 the newer; steps 0, 1, 2, then the reset's 0 and 1.
    assert [(float(o[0, 0, 0]), float(o[0, 0, 3])) for o in shown] == [(0, 0), (0, 1), (1, 2), (0, 0), (0, 1)]
    assert (float(finals[2][0, 0, 0]), float(finals[2][0, 0, 3])) == (2, 3)
    assert np.all(shown[2][..., :3] == 1) and np.all(shown[2][..., 3:] == 2)


class DiscreteObservations:
    """Observations from ``Discrete(3)`` (a test fixture)."""

    default_params = EnvParams()

    def observation_space(self, params=None):
        return spaces.Discrete(3)


def test_history_wrappers_reject_bad_arguments(cartpole):
    env, _ = cartpole
    with pytest.raises(ValueError, match=r"DelayedObservation: delay is -1; expected an integer number of steps >= 0"):
        DelayedObservation(env, delay=-1)
    with pytest.raises(ValueError, match=r"FrameStack: num_frames is 0; expected an integer >= 1"):
        FrameStack(env, num_frames=0)
    with pytest.raises(ValueError, match=r"FrameStack: the observation space is .*Discrete.*; expected a Box with at least one axis"):
        FrameStack(DiscreteObservations(), num_frames=2)



# -- rewards ----------------------------------------------------------------------------------------


def test_scale_reward_multiplies_rewards(cartpole, cartpole_trajectory):
    env, params = cartpole
    wrapped = ScaleReward(env, scale=0.1)
    scaled = play(wrapped, params, random_policy(wrapped, params), jax.random.key(0), NUM_ENVS, STEPS)
    np.testing.assert_array_equal(scaled["reward"], np.float32(0.1) * cartpole_trajectory["reward"])
    np.testing.assert_array_equal(scaled["next_obs"], cartpole_trajectory["next_obs"])
    with pytest.raises(ValueError, match=r"ScaleReward: scale is -1; expected a positive number"):
        ScaleReward(env, scale=-1)


@pytest.mark.parametrize("scaled", [lambda env: ScaleReward(env, scale=0.1), lambda env: NormalizeReward(ScaleReward(env, 3.0))])
def test_episode_returns_are_in_the_tasks_units_under_reward_wrappers(cartpole, scaled):
    """CartPole pays 1 per step, so an episode's return is its length, whatever the agent was paid; the returns summed
    the scaled rewards before."""
    env, params = cartpole
    wrapped = RecordEpisodeStatistics(scaled(env))
    trajectory = play(wrapped, params, random_policy(wrapped, params), jax.random.key(0), NUM_ENVS, STEPS)
    done, episode = trajectory["terminated"] | trajectory["truncated"], trajectory["info"]["episode"]
    assert done.any() and not np.allclose(trajectory["reward"], 1)
    np.testing.assert_array_equal(episode["return"][done], episode["length"][done])


def test_wrappers_copy_and_pickle(cartpole):
    """copy and pickle look up attributes before ``env`` is set; delegating them recursed without end."""
    env, params = cartpole
    wrapped = FrameStack(NormalizeObservation(env), 2)
    for twin in (copy.copy(wrapped), copy.deepcopy(wrapped), pickle.loads(pickle.dumps(wrapped))):
        assert type(twin.env) is NormalizeObservation and twin.num_frames == 2
        assert twin.observation_space(params).shape == wrapped.observation_space(params).shape


def test_spaces_hold_the_observations_of_normalising_and_flickering():
    """The normalised observations left the wrapped space's [0, 1]; a blanked bandit observation its Box(1, 1)."""
    cards, bandit = make("memorax::RepeatPrevious-Easy"), (TwoArmedBandit(), TwoArmedBandit().default_params)
    for wrapped, params in ((NormalizeObservation(cards[0]), cards[1]), (FlickerObservation(bandit[0], p=0.5), bandit[1])):
        obs = run(wrapped, params)[0]
        space = wrapped.observation_space(params)
        assert space.dtype == obs.dtype and space.shape == obs.shape[2:]
        assert np.all((obs >= space.low) & (obs <= space.high))


class ReplayedRewards(gymnasium.Env):
    """A gymnasium environment that pays the given rewards and terminates where told (to drive gymnasium's wrapper)."""

    observation_space = gymnasium.spaces.Box(0.0, 0.0, (1,))
    action_space = gymnasium.spaces.Discrete(1)

    def __init__(self, rewards, terminated):
        self.rewards, self.terminated, self.t = rewards, terminated, 0

    def reset(self, seed=None, options=None):
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.float32), float(self.rewards[self.t - 1]), bool(self.terminated[self.t - 1]), False, {}


def gymnasium_normalized(rewards, terminated, gamma):
    env = gymnasium.wrappers.NormalizeReward(ReplayedRewards(rewards, terminated), gamma=gamma)
    env.reset()
    return np.array([env.step(0)[1] for _ in rewards])


def test_normalize_reward_matches_gymnasium_fed_with_the_previous_episode_ends():
    """Per environment, with terminations and truncations: gymnasium's NormalizeReward told that an episode ended
    one step later (its return restarts at a terminating step, ours after it) scales every reward as ours does."""
    env, params = make("gymnax::CartPole-v1")
    params = params.replace(max_steps_in_episode=20)
    wrapped = NormalizeReward(env, gamma=0.9)
    normalized = play(wrapped, params, random_policy(wrapped, params), jax.random.key(0), 4, 200)
    terminated, truncated = normalized["terminated"], normalized["truncated"]
    assert terminated.any() and (truncated & ~terminated).any()
    done = terminated | truncated
    previous_done = np.concatenate([np.zeros_like(done[:1]), done[:-1]])
    rewards = np.ones(200)  # CartPole pays 1 per step; the running return still varies with the episode ends
    for env_index in range(4):
        expected = gymnasium_normalized(rewards, previous_done[:, env_index], gamma=0.9)
        np.testing.assert_allclose(normalized["reward"][:, env_index], expected, rtol=1e-5)
    with pytest.raises(ValueError, match=r"NormalizeReward: gamma is 1.5; expected a discount in \[0, 1\]"):
        NormalizeReward(env, gamma=1.5)


# -- actions ----------------------------------------------------------------------------------------


class EchoAction:
    """Shows the action it received; ``Box(-1, 1, (2,))`` actions (a test fixture)."""

    default_params = EnvParams(max_steps_in_episode=10)

    def action_space(self, params=None):
        return spaces.Box(jnp.array([-1.0, 0.0]), jnp.array([1.0, 0.5]), (2,), jnp.float32)

    def reset(self, key, params=None):
        return jnp.zeros(2), ()

    def step(self, key, state, action, params=None):
        return action, state, 0.0, jnp.array(False), jnp.array(False), {}


def test_clip_action_passes_actions_clipped_into_the_bounds():
    env = ClipAction(EchoAction())
    actions = jnp.array([[3.0, -2.0], [-0.5, 0.2], [-7.0, 0.9]])
    _, state = env.reset(jax.random.key(0))
    received = jax.jit(jax.vmap(lambda a: env.step(jax.random.key(0), state, a)[0]))(actions)
    np.testing.assert_array_equal(received, np.array([[1.0, 0.0], [-0.5, 0.2], [-1.0, 0.5]], np.float32))
    assert env.action_space().shape == (2,)
    np.testing.assert_array_equal(env.action_space().high, [1.0, 0.5])
    with pytest.raises(ValueError, match=r"ClipAction: the action space is .*Discrete.*; expected a Box"):
        ClipAction(make("gymnax::CartPole-v1")[0])


# -- trials -----------------------------------------------------------------------------------------


@struct.dataclass
class ShownTaskParams(EnvParams):
    task: float = 0.0
    max_steps_in_episode: int = 3


class ShownTask(Environment):
    """Shows ``[task, time]``; action 1 terminates the episode, the limit of 3 steps truncates it (a test fixture)."""

    num_actions = 2

    @property
    def default_params(self):
        return ShownTaskParams()

    def observation_space(self, params=None):
        return spaces.Box(-jnp.inf, jnp.inf, (2,), jnp.float32)

    def reset_env(self, key, params):
        return jnp.array([params.task, 0.0]), EnvState(time=0)

    def step_env(self, key, state, action, params):
        state = state.replace(time=state.time + 1)
        return jnp.array([params.task, state.time], jnp.float32), state, 0.0, action == 1, {}


def draw_task(key, params):
    return params.replace(task=jax.random.uniform(key))


EPISODES_PER_TRIAL = 3


@pytest.fixture(scope="module")
def trial_trajectory():
    env = Trials(ShownTask(), EPISODES_PER_TRIAL, draw_task)
    params = env.default_params
    return play(env, params, random_policy(env, params), jax.random.key(0), NUM_ENVS, 60)


def test_trials_keep_the_task_for_episodes_per_trial_episodes(trial_trajectory):
    trajectory = trial_trajectory
    obs, next_obs, action, info = trajectory["obs"], trajectory["next_obs"], trajectory["action"], trajectory["info"]
    time_after = obs[..., 1] + 1
    episode_end = (action == 1) | (time_after >= 3)
    np.testing.assert_array_equal(info["episode_end"], episode_end)
    # The episode's index in its trial counts the wrapped episode ends and restarts with each trial.
    index = np.zeros(NUM_ENVS, int)
    for t in range(len(action)):
        np.testing.assert_array_equal(info["episode_in_trial"][t], index)
        index = np.where(episode_end[t], (index + 1) % EPISODES_PER_TRIAL, index)
    trial_end = episode_end & (info["episode_in_trial"] == EPISODES_PER_TRIAL - 1)
    assert (episode_end & ~trial_end).any() and trial_end.any()
    # The agent's flags are the trial's: set only where a trial ends, with its last episode's way of ending.
    np.testing.assert_array_equal(trajectory["terminated"], trial_end & (action == 1))
    np.testing.assert_array_equal(trajectory["truncated"], trial_end & (time_after >= 3))
    np.testing.assert_array_equal(info["terminated"], trajectory["terminated"])
    # The task survives the episodes' auto-resets and changes between trials.
    task, next_task = obs[..., 0], next_obs[..., 0]
    np.testing.assert_array_equal(next_task[~trial_end], task[~trial_end])
    assert np.all(next_task[trial_end] != task[trial_end])
    np.testing.assert_array_equal(next_obs[..., 1], np.where(episode_end, 0, time_after))
    # The final observation is the trial's last one where it ends, the returned observation elsewhere.
    final = info["final_observation"]
    np.testing.assert_array_equal(final[trial_end], np.stack([task, time_after], -1)[trial_end])
    np.testing.assert_array_equal(final[~trial_end], next_obs[~trial_end])


def test_trial_params_bound_a_trial_and_are_required():
    env = Trials(ShownTask(), EPISODES_PER_TRIAL, draw_task)
    assert env.default_params == TrialParams(ShownTaskParams(), 9)
    assert env.trial_params(ShownTaskParams(max_steps_in_episode=5)).max_steps_in_episode == 15
    assert env.observation_space(env.default_params).shape == (2,) and env.num_actions == 2
    with pytest.raises(ValueError, match=r"Trials: params is a ShownTaskParams; expected TrialParams"):
        env.reset(jax.random.key(0), ShownTaskParams())
    with pytest.raises(ValueError, match=r"Trials: ShownTask has no sample_task method and sample_task is None"):
        Trials(ShownTask(), EPISODES_PER_TRIAL)
    with pytest.raises(ValueError, match=r"Trials: episodes_per_trial is 0; expected an integer >= 1"):
        Trials(TwoArmedBandit(), 0)


def test_wrappers_outside_trials_see_trials_as_episodes():
    """A frame stack outside Trials stacks across the episodes of a trial and restarts between trials; episode
    statistics are those of trials."""
    env = RecordEpisodeStatistics(FrameStack(Trials(ShownTask(), EPISODES_PER_TRIAL, draw_task), num_frames=2))
    params = env.default_params
    trajectory = play(env, params, random_policy(env, params), jax.random.key(0), NUM_ENVS, 30)
    obs, next_obs, info = trajectory["obs"], trajectory["next_obs"], trajectory["info"]
    trial_end = trajectory["terminated"] | trajectory["truncated"]
    assert (info["episode_end"] & ~trial_end).any() and trial_end.any()
    np.testing.assert_array_equal(next_obs[..., :2][~trial_end], obs[..., 2:][~trial_end])
    np.testing.assert_array_equal(next_obs[..., :2][trial_end], next_obs[..., 2:][trial_end])
    episode = info["episode"]
    np.testing.assert_array_equal(episode["done"], trial_end)
    # A trial of 3 episodes lasts from 3 steps (each ended at once) to 9 (each reached the limit of 3).
    assert np.all((episode["length"][trial_end] >= 3) & (episode["length"][trial_end] <= 9))
