"""DQN (Mnih et al. 2015) with double Q-learning and n-step targets; with a recurrent torso, R2D2 (Kapturowski et al. 2019).

Every vector step acts ε-greedily in ``num_envs`` environments and stores the
step, with the carry the network read it with, in a :class:`SequenceReplay`.
Every ``train_every`` vector steps one update samples sequences, unrolls the
online network from their stored carries (the first ``burn_in`` steps only
refresh the carry), and regresses ``Q(s_t, a_t)`` on n-step double-DQN
targets computed by the target network, optionally through R2D2's value
rescaling ``h``. Prioritised replay uses R2D2's mixture of the max and mean
absolute TD error of each sequence.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import distrax
import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct
from gymnax.environments import spaces
from jax.sharding import Mesh

from memorax.algorithms.common.agent import Agent
from memorax.algorithms.common.axes import first_environment, first_step, remove_time_axis, step_at, swap_batch_time
from memorax.algorithms.common.config import EpsilonSchedule, ReplayConfig
from memorax.algorithms.common.episodes import episode_metrics, epsilon_greedy, play_episodes, summarize_evaluation
from memorax.algorithms.common.returns import n_step_returns, next_values
from memorax.algorithms.common.sequences import carry_staleness, sequence_values, unroll
from memorax.algorithms.common.vector_env import StepInputs, VectorEnv, build_on_step, call_on_step, require_values
from memorax.buffers import SequenceReplay
from memorax.networks import Network
from memorax.parallel import DataParallel

RESCALING_EPSILON = 1e-3


def rescale(x: jax.Array) -> jax.Array:
    """R2D2's value rescaling ``h(x) = sign(x) (sqrt(|x| + 1) - 1) + ε x``."""
    return jnp.sign(x) * (jnp.sqrt(jnp.abs(x) + 1) - 1) + RESCALING_EPSILON * x


def unrescale(x: jax.Array) -> jax.Array:
    """The inverse of :func:`rescale` (Pohlen et al. 2018, Proposition A.2)."""
    shifted = jnp.abs(x) + 1 + RESCALING_EPSILON
    # (sqrt(1 + 4 ε a) - 1) / (2 ε), rationalised so that float32 does not cancel digits.
    root = 2 * shifted / (jnp.sqrt(1 + 4 * RESCALING_EPSILON * shifted) + 1)
    return jnp.sign(x) * (root**2 - 1)


@dataclasses.dataclass(frozen=True)
class DQNConfig(ReplayConfig, EpsilonSchedule):
    """DQN's hyper-parameters: the sequence layout of :class:`~memorax.algorithms.common.config.ReplayConfig`, targets, ε and priorities.

    With an MLP and the defaults (length 2, no burn-in, 1-step targets) this is plain double DQN.
    """

    batch_size: int = 64
    """Sequences per update."""
    learning_starts: int = 10_000
    """Environment steps before the first update."""
    total_timesteps: int = 500_000
    """The run's length, over which ε decays (see epsilon_decay)."""
    target_update_every: int = 500
    """Updates between target-network updates."""
    tau: float = 1.0
    """Target update ``θ' ← τ θ + (1 - τ) θ'``: 1 is a hard copy."""
    epsilon_start: float = 1.0
    """ε of the ε-greedy policy at the first step."""
    epsilon_finish: float = 0.05
    """ε after the decay."""
    epsilon_decay: float = 0.5
    """Fraction of total_timesteps over which ε decays linearly."""
    value_rescaling: bool = False
    """Regress on h(targets) through R2D2's invertible value rescaling."""
    priority_exponent: float = 0.0
    """Prioritised replay's α; 0 samples uniformly."""
    priority_eta: float = 0.9
    """A sequence's priority is η max|δ| + (1 - η) mean|δ| over its trained steps."""
    importance_exponent: float = 0.6
    """β of the importance weights that correct prioritised sampling."""

    def __post_init__(self):
        super().__post_init__()
        self._require_positive("total_timesteps", "target_update_every")
        self._require_within("priority_exponent", 0, 1)
        self._require_non_negative("importance_exponent")
        self._require_within("tau", 0, 1, low_open=True)
        self._require_within("priority_eta", 0, 1)
        self._check_epsilon()


@struct.dataclass
class DQNReplayStep:
    """One step of one environment as the replay keeps it."""

    inputs: StepInputs  # what the network read
    carry: Any  # the carry it read them with
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array  # the observation the step ended on, before any auto-reset


@struct.dataclass
class DQNState:
    params: nnx.State
    target_params: nnx.State
    opt_state: optax.OptState
    replay: Any
    env_state: Any
    inputs: StepInputs
    carry: Any
    env_steps: jax.Array
    updates: jax.Array


def _double_q(online_q: jax.Array, target_q: jax.Array) -> jax.Array:
    """``Q_target(s, argmax_a Q_online(s, a))`` (van Hasselt et al. 2016)."""
    best = jnp.argmax(online_q, axis=-1)[..., None]
    return jnp.take_along_axis(target_q, best, axis=-1)[..., 0]


def importance_weights(probabilities: jax.Array, exponent: float) -> jax.Array:
    """Prioritised replay's weights ``(N P_i)^-β`` normalised by their maximum, ``[batch]`` from the sampled ``P_i``.

    A sample of probability 0, a sequence the buffer does not hold whole (see
    :meth:`~memorax.buffers.SequenceReplay.set_priorities`), gets weight 0, not 0/0.
    """
    held = probabilities > 0
    smallest = jnp.where(held, probabilities, jnp.inf).min()
    return jnp.where(held, (smallest / jnp.where(held, probabilities, 1.0)) ** exponent, 0.0)


class DQN(Agent):
    """Double DQN with n-step targets and sequence replay; R2D2 when the Q-network is recurrent.

    ``state = agent.init(key)``; ``state, metrics = agent.train(key, state,
    total_steps)``; ``agent.evaluate(key, state, num_episodes, epsilon=0.0)``.
    ``metrics`` holds one entry per vector step: ``loss``, ``q`` and
    ``carry_staleness`` (NaN at steps without an update), ``epsilon``,
    ``env_steps`` and the episode statistics. ``carry_staleness`` is how far
    the carry stored for the first trained step of a sampled sequence is from
    the one the burn-in recomputes with the current parameters
    (:func:`~memorax.algorithms.common.sequences.carry_staleness`; NaN
    without burn-in): 0 while the parameters are those that acted.

    Args:
      config: a :class:`DQNConfig`.
      env, env_params: a gymnax-style environment with Discrete actions, and its parameters.
      network: a :class:`~memorax.networks.Network` with a ``DiscreteQNetwork`` head.
      optimizer: an optax transformation, e.g. ``optax.adam(2.5e-4)``; DQN adds gradient clipping in front.
      mesh: the devices to split environments, the replay and sampled batches
        over (default: all of them, see docs/scaling.md); ``num_envs`` and
        ``batch_size`` must be divisible by the size of its ``data`` axis.
    """

    name = "DQN"
    greedy = 0.0

    @property
    def sampled(self) -> float:
        """ε-greedy at ``epsilon_finish``, the policy as it acts at the end of training."""
        return self.config.epsilon_finish

    def __init__(
        self,
        config: DQNConfig,
        env,
        env_params,
        network: Network,
        optimizer: optax.GradientTransformation,
        mesh: Mesh | None = None,
    ):
        self.config = config
        self.envs = VectorEnv(env, env_params, self.name, action_spaces=(spaces.Discrete,))
        self.envs.check_action_dims(network=network)
        self.parallel = DataParallel(mesh, self.name, config.split_sizes)
        self.optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optimizer)
        self.replay = SequenceReplay(
            config.num_envs, config.buffer_size, config.sequence_length, config.batch_size, config.stride, config.priority_exponent
        )
        example = self.envs.example_inputs()
        build_on_step(network, example)
        require_values(self.name, "network", network, example, self.envs.action_features, "heads.DiscreteQNetwork")
        self._set_model(network)

    def init(self, key: jax.Array) -> DQNState:
        """Resets the environments, draws the network's parameters and makes an empty replay: a pure function of ``key``."""
        env_key, params_key = jax.random.split(key)
        n = self.config.num_envs
        env_state, inputs = self.envs.reset(env_key, n)
        network = self._draw_model(params_key)
        params = nnx.state(network)
        carry = network.initialize_carry(n)
        example = DQNReplayStep(
            inputs=first_environment(inputs),
            carry=first_environment(carry),
            action=jnp.zeros((), jnp.int32),
            reward=jnp.zeros(()),
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
            final_obs=first_environment(inputs.obs),
        )
        state = DQNState(
            params=params,
            target_params=params,
            opt_state=self.optimizer.init(params),
            replay=self.replay.init(example),
            env_state=env_state,
            inputs=inputs,
            carry=carry,
            env_steps=jnp.array(0),
            updates=jnp.array(0),
        )
        return self._place(state)

    def _place(self, state: DQNState) -> DQNState:
        split = self.parallel.split
        return self.parallel.place(
            state, replay=lambda replay: self.replay.place(replay, self.parallel), env_state=split, inputs=split, carry=split
        )

    # -- acting -------------------------------------------------------------------------------

    def _iteration(self, state: DQNState, key: jax.Array) -> tuple[DQNState, dict]:
        config = self.config
        act_key, env_key, update_key = jax.random.split(key, 3)
        epsilon = config.epsilon(state.env_steps)
        carry, q = call_on_step(self.model(state.params), state.carry, state.inputs)
        action = distrax.EpsilonGreedy(remove_time_axis(q), epsilon).sample(seed=act_key)
        env_state, inputs, reward, terminated, truncated, info = self.envs.step(env_key, state.env_state, action)
        stored = DQNReplayStep(state.inputs, state.carry, action, reward, terminated, truncated, info["final_observation"])
        state = state.replace(
            replay=self.replay.add(state.replay, stored),
            env_state=env_state,
            inputs=inputs,
            carry=carry,
            env_steps=state.env_steps + config.num_envs,
        )
        vector_steps = state.env_steps // config.num_envs
        ready = (state.env_steps >= config.learning_starts) & (vector_steps % config.train_every == 0)
        state, stats = jax.lax.cond(ready, self._update, self._no_update, state, update_key)
        return self._place(state), dict(stats, epsilon=epsilon, env_steps=state.env_steps, **episode_metrics(info["episode"]))

    # -- learning -----------------------------------------------------------------------------

    def _bootstrap_values(self, online: Network, target: Network, batch: DQNReplayStep, start: Any, key: jax.Array):
        """Double-DQN values ``[T, B]`` of every observation and of every truncated step's final observation, from ``start``
        (:func:`~memorax.algorithms.common.sequences.sequence_values`)."""

        def value_of(carry, inputs, key):
            return _double_q(unroll(online, inputs, carry)[1], unroll(target, inputs, carry)[1])

        final = self.envs.final_inputs(batch.action, batch.reward, {"final_observation": batch.final_obs})
        return sequence_values(value_of, start, batch.inputs, final, batch.truncated, key)

    def _loss(self, params, target_params, batch: DQNReplayStep, weights: jax.Array, key: jax.Array):
        config = self.config
        start = first_step(batch.carry)
        warm_carry, q = unroll(self.model(params), batch.inputs, start, config.burn_in)
        staleness = carry_staleness(warm_carry, step_at(batch.carry, config.burn_in)) if config.burn_in else jnp.float32(jnp.nan)
        values, final_values = self._bootstrap_values(
            self.model(jax.lax.stop_gradient(params)), self.model(target_params), batch, start, key
        )
        reward, terminated, truncated = swap_batch_time((batch.reward, batch.terminated, batch.truncated))
        following = next_values(values, values[-1], final_values, terminated, truncated)
        if config.value_rescaling:
            following = unrescale(following)
        targets = n_step_returns(reward, following, terminated | truncated, config.gamma, config.n_step)
        if config.value_rescaling:
            targets = rescale(targets)
        trained = slice(config.burn_in, config.burn_in + config.trained_steps)
        targets = jax.lax.stop_gradient(swap_batch_time(targets)[:, trained])
        actions = batch.action[:, config.burn_in :, None]
        chosen = jnp.take_along_axis(q, actions, axis=-1)[..., 0][:, : config.trained_steps]
        td = chosen - targets
        loss = 0.5 * jnp.mean(weights[:, None] * td**2)
        error = jnp.abs(td)
        priorities = config.priority_eta * error.max(1) + (1 - config.priority_eta) * error.mean(1)
        return loss, (dict(loss=loss, q=chosen.mean(), carry_staleness=staleness), priorities)

    def _update(self, state: DQNState, key: jax.Array) -> tuple[DQNState, dict]:
        config = self.config
        sample_key, loss_key = jax.random.split(key)
        sample = self.replay.sample(state.replay, sample_key)
        batch = self.parallel.split(sample.experience)
        weights = importance_weights(sample.probabilities, config.importance_exponent if config.priority_exponent > 0 else 0.0)
        grads, (stats, priorities) = jax.grad(self._loss, has_aux=True)(
            state.params, state.target_params, batch, weights, loss_key
        )
        updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        replay = state.replay
        if config.priority_exponent > 0:
            replay = self.replay.set_priorities(replay, sample.indices, priorities)
        count = state.updates + 1
        refreshed = optax.incremental_update(params, state.target_params, config.tau)
        target_params = jax.tree.map(
            lambda new, old: jnp.where(count % config.target_update_every == 0, new, old), refreshed, state.target_params
        )
        state = state.replace(params=params, target_params=target_params, opt_state=opt_state, replay=replay, updates=count)
        return state, stats

    def _no_update(self, state: DQNState, key: jax.Array) -> tuple[DQNState, dict]:
        nan = jnp.float32(jnp.nan)
        return state, dict(loss=nan, q=nan, carry_staleness=nan)

    # -- train and evaluate -------------------------------------------------------------------

    def _play(self, key, params, num_episodes: int, epsilon: float):
        return play_episodes(self.envs, self.model(params), epsilon_greedy(epsilon), key, num_episodes)

    def evaluate(self, key: jax.Array, state: DQNState, num_episodes: int = 64, epsilon: float = 0.0) -> dict:
        """Plays ``num_episodes`` episodes in parallel, ε-greedily (greedy by default); returns their statistics."""
        return summarize_evaluation(self.name, *self._evaluate(key, state.params, num_episodes, epsilon))
