"""Trials: episodes grouped into trials that share a task, for meta-reinforcement learning (RL², Duan et al. 2016)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments.wrappers.wrapper import Wrapper


@struct.dataclass
class TrialParams:
    env_params: Any  # the wrapped environment's params: what sample_task draws each trial's task from
    max_steps_in_episode: int  # of a trial: episodes_per_trial times the wrapped environment's limit


@struct.dataclass
class TrialState:
    env_state: Any
    task: Any  # the wrapped environment's params drawn for this trial
    episode: jax.Array  # index of the running episode within the trial, 0 .. episodes_per_trial - 1


class Trials(Wrapper):
    """A trial is ``episodes_per_trial`` episodes of the wrapped environment on one task, drawn anew for each trial.

    **The task is the wrapped environment's params.** gymnax passes params
    to every ``reset`` and ``step``, and auto-reset keeps them, so episodes
    within a trial share the task without the environment knowing about
    trials. A trial starts with ``task = sample_task(key, params.env_params)``
    and runs the wrapped environment with ``task`` as its params; its own
    auto-resets start the trial's next episodes. ``sample_task(key,
    env_params) -> env_params`` is the argument, or else the wrapped
    environment's ``sample_task`` method (e.g.
    :class:`~memorax.environments.TwoArmedBandit`'s); for a gymnax task, say,
    ``lambda key, p: p.replace(gravity=jax.random.uniform(key, (), minval=5, maxval=15))``.
    A field that sets a shape must be static (``struct.field(pytree_node=False)``):
    tasks are traced arrays in the state.

    **The agent's episode is the trial.** ``step`` returns ``terminated`` and
    ``truncated`` only where a trial ends (with the last episode's flags),
    so an agent keeps its memory, its previous action and its previous reward
    across the episodes of a trial and resets them between trials (memorax's
    algorithms reset all three on ``terminated | truncated``). The returns and
    episode statistics an algorithm reports are then those of trials.
    ``info["final_observation"]`` is the trial's last observation where it
    ends and the returned observation elsewhere. The episodes stay visible in
    ``info``: ``episode_end`` (an episode of the trial ended at this step,
    its flags ``info["terminated"] | info["truncated"]`` before wrapping) and
    ``episode_in_trial`` (the index of the episode this step belonged to).

    Every step also draws the next trial's task and reset, kept only where a
    trial ends (as auto-reset computes the next episode's start), so a step
    costs about one ``reset`` more than the wrapped environment's.

    Params: :class:`TrialParams`, ``trials.trial_params(env_params)`` (or
    ``trials.default_params``), whose ``max_steps_in_episode`` bounds a
    trial, as evaluation reads it.

    Args:
      env: a gymnax-style environment with auto-reset.
      episodes_per_trial: ``K``, the episodes of each trial.
      sample_task: ``(key, env_params) -> env_params``, one trial's task; None uses ``env.sample_task``.
    """

    def __init__(self, env: Any, episodes_per_trial: int, sample_task: Callable[[jax.Array, Any], Any] | None = None):
        if not isinstance(episodes_per_trial, int) or episodes_per_trial < 1:
            raise ValueError(f"Trials: episodes_per_trial is {episodes_per_trial!r}; expected an integer >= 1.")
        sample_task = sample_task if sample_task is not None else getattr(env, "sample_task", None)
        if sample_task is None:
            raise ValueError(
                f"Trials: {type(env).__name__} has no sample_task method and sample_task is None; expected a "
                "function (key, env_params) -> env_params that draws one trial's task."
            )
        super().__init__(env)
        self.episodes_per_trial = episodes_per_trial
        self.sample_task = sample_task

    def trial_params(self, env_params: Any) -> TrialParams:
        """The params of trials of the wrapped environment with ``env_params``."""
        return TrialParams(env_params, self.episodes_per_trial * int(env_params.max_steps_in_episode))

    @property
    def default_params(self) -> TrialParams:
        return self.trial_params(self.env.default_params)

    def _env_params(self, params: TrialParams | None) -> Any:
        if params is None:
            return self.env.default_params
        if not isinstance(params, TrialParams):
            raise ValueError(
                f"Trials: params is a {type(params).__name__}; expected TrialParams, "
                "e.g. trials.trial_params(env_params) or trials.default_params."
            )
        return params.env_params

    def observation_space(self, params: TrialParams | None = None):
        return self.env.observation_space(self._env_params(params))

    def action_space(self, params: TrialParams | None = None):
        return self.env.action_space(self._env_params(params))

    def _start_trial(self, key: jax.Array, env_params: Any) -> tuple[jax.Array, TrialState]:
        task_key, reset_key = jax.random.split(key)
        task = self.sample_task(task_key, env_params)
        obs, env_state = self.env.reset(reset_key, task)
        return obs, TrialState(env_state, task, jnp.zeros((), jnp.int32))

    def reset(self, key, params=None):
        return self._start_trial(key, self._env_params(params))

    def step(self, key, state, action, params=None):
        step_key, trial_key = jax.random.split(key)
        obs, env_state, reward, terminated, truncated, info = self.env.step(step_key, state.env_state, action, state.task)
        episode_end = terminated | truncated
        trial_end = episode_end & (state.episode == self.episodes_per_trial - 1)
        trial_obs, trial_state = self._start_trial(trial_key, self._env_params(params))
        episode = jnp.where(episode_end, state.episode + 1, state.episode)
        same_trial = TrialState(env_state, state.task, episode)
        next_state = jax.tree.map(lambda fresh, old: jnp.where(trial_end, fresh, old), trial_state, same_trial)
        next_obs = jnp.where(trial_end, trial_obs, obs)
        terminated, truncated = trial_end & terminated, trial_end & truncated
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": jnp.where(trial_end, info.get("final_observation", obs), next_obs),
            "episode_end": episode_end,
            "episode_in_trial": state.episode,
        }
        return next_obs, next_state, reward, terminated, truncated, info
