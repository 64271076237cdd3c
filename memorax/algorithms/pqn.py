"""PQN (Gallici et al. 2024): parallel Q-learning with Q(λ) targets, no target network and no replay buffer.

Many environments act ε-greedily for a short rollout; Q(λ) targets are
computed once from the Q-values seen while acting; then a few epochs of
minibatch regression fit ``Q(s_t, a_t)`` to them. LayerNorm in the network
(``MLP(..., layer_norm=True)``) is what keeps this stable without a target
network. Recurrent networks are handled as in PPO: each rollout stores the
carry at its first step and the update replays whole sequences from it.
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
from memorax.algorithms.common.axes import remove_time_axis, swap_batch_time
from memorax.algorithms.common.config import EpsilonSchedule, OnPolicyConfig
from memorax.algorithms.common.episodes import episode_metrics, epsilon_greedy, play_episodes, summarize_evaluation
from memorax.algorithms.common.minibatches import minibatch_epochs
from memorax.algorithms.common.returns import lambda_returns, next_values
from memorax.algorithms.common.vector_env import StepInputs, VectorEnv, build_on_step, call_on_step, require_values
from memorax.networks import Network
from memorax.parallel import DataParallel


@dataclasses.dataclass(frozen=True)
class PQNConfig(OnPolicyConfig, EpsilonSchedule):
    """PQN's hyper-parameters (the shared ones are in :class:`~memorax.algorithms.common.config.OnPolicyConfig`); a wrong value raises a ValueError naming the field.

    Defaults follow the paper's gymnax settings (32 environments x 64 steps,
    16 minibatches of 128 transitions, λ = 0.65, ε from 1 to 0.05 over the first 20% of ``total_timesteps``,
    gradient norm clipped at 10).
    """

    num_envs: int = 32
    """Environments stepped in parallel."""
    num_steps: int = 64
    """Steps per environment in each rollout."""
    num_minibatches: int = 16
    """Minibatches per pass; they split environments, so num_envs must be divisible by it."""
    max_grad_norm: float = 10.0
    """Gradients are clipped to this global norm."""
    q_lambda: float = 0.65
    """λ of the Q(λ) targets."""
    epsilon_start: float = 1.0
    """ε of the ε-greedy policy at the first step."""
    epsilon_finish: float = 0.05
    """ε after the decay."""
    epsilon_decay: float = 0.2
    """Fraction of total_timesteps over which ε decays linearly."""

    def __post_init__(self):
        super().__post_init__()
        self._require_within("q_lambda", 0, 1)
        self._check_epsilon()


@struct.dataclass
class PQNState:
    params: nnx.State
    opt_state: optax.OptState
    env_state: Any
    inputs: StepInputs  # what the network reads at the next step
    carry: Any
    updates: jax.Array


@struct.dataclass
class PQNTransition:
    inputs: StepInputs
    action: jax.Array
    max_q: jax.Array  # max_a Q(s_t, a), seen while acting
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_max_q: jax.Array  # max_a Q of the observation the episode stopped on
    episode: dict


class PQN(Agent):
    """Parallelised Q-network with a recurrent (or feed-forward) Q-network.

    ``state = agent.init(key)``; ``state, metrics = agent.train(key, state,
    total_steps)``; ``agent.evaluate(key, state, num_episodes)``. ``metrics``
    holds one entry per update: the TD loss, mean Q of the taken actions, ε,
    ``first_q_deviation`` (``max |max_a Q - max_a Q_acting|`` on the first
    minibatch, 0 when replay reproduces acting), and the mean return and length of the episodes that ended during the
    update's rollout (NaN when none did; ``episodes`` counts them).

    Args:
      config: a :class:`PQNConfig`.
      env, env_params: a gymnax-style environment with Discrete actions, and its parameters.
      network: a :class:`~memorax.networks.Network` with a ``DiscreteQNetwork`` head, with LayerNorm
        in its layers (e.g. ``MLP(features, layer_norm=True)``).
      optimizer: an optax transformation, e.g. ``optax.radam(3e-4)``; PQN adds
        gradient clipping in front and learning-rate annealing behind it.
      mesh: the devices to split environments and minibatches over (default:
        all of them, see docs/scaling.md); ``num_envs / num_minibatches`` must
        be divisible by the size of its ``data`` axis.
    """

    name = "PQN"
    greedy = 0.0

    @property
    def sampled(self) -> float:
        """ε-greedy at ``epsilon_finish``, the policy as it acts at the end of training."""
        return self.config.epsilon_finish

    def __init__(
        self,
        config: PQNConfig,
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
        self.optimizer = config.optimizer(optimizer)
        example = self.envs.example_inputs()
        build_on_step(network, example)
        require_values(self.name, "network", network, example, self.envs.action_features, "heads.DiscreteQNetwork")
        self._set_model(network)

    def init(self, key: jax.Array) -> PQNState:
        """Resets the environments and draws the network's parameters: a pure function of ``key``."""
        env_key, params_key = jax.random.split(key)
        n = self.config.num_envs
        env_state, inputs = self.envs.reset(env_key, n)
        network = self._draw_model(params_key)
        params = nnx.state(network)
        state = PQNState(
            params=params,
            opt_state=self.optimizer.init(params),
            env_state=env_state,
            inputs=inputs,
            carry=network.initialize_carry(n),
            updates=jnp.array(0),
        )
        return self._place(state)

    def _place(self, state: PQNState) -> PQNState:
        split = self.parallel.split
        return self.parallel.place(state, env_state=split, inputs=split, carry=split)

    # -- rollout ------------------------------------------------------------------------------

    def _env_step(self, state: PQNState, key: jax.Array, epsilon: jax.Array) -> tuple[PQNState, PQNTransition]:
        act_key, env_key = jax.random.split(key)
        network = self.model(state.params)
        carry, q = call_on_step(network, state.carry, state.inputs)
        q = remove_time_axis(q)
        action = distrax.EpsilonGreedy(q, epsilon).sample(seed=act_key)

        env_state, inputs, reward, terminated, truncated, info = self.envs.step(env_key, state.env_state, action)
        # The value of the observation a truncated episode ended on, seen with the memory it had.
        _, final_q = call_on_step(network, carry, self.envs.final_inputs(action, reward, info))
        transition = PQNTransition(
            inputs=state.inputs,
            action=action,
            max_q=q.max(-1),
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            final_max_q=remove_time_axis(final_q).max(-1),
            episode=info["episode"],
        )
        return state.replace(env_state=env_state, inputs=inputs, carry=carry), transition

    # -- loss and update ----------------------------------------------------------------------

    def _loss(self, params, batch: dict):
        """Squared TD error of the taken actions on batch-major sequences ``[envs, T]``."""
        step, inputs = batch["transition"], batch["transition"].inputs
        _, q = self.model(params)(inputs.obs, inputs.done, batch["carry"], inputs.prev_action, inputs.prev_reward)
        chosen = jnp.take_along_axis(q, step.action[..., None], axis=-1)[..., 0]
        loss = 0.5 * jnp.mean((chosen - batch["targets"]) ** 2)
        return loss, dict(loss=loss, q=chosen.mean(), max_q_deviation=jnp.max(jnp.abs(q.max(-1) - step.max_q)))

    def _iteration(self, state: PQNState, key: jax.Array) -> tuple[PQNState, dict]:
        config = self.config
        rollout_key, epoch_key = jax.random.split(key)
        epsilon = config.epsilon(config.env_steps(state.updates))
        start_carry = state.carry
        state, trajectory = jax.lax.scan(
            lambda state, key: self._env_step(state, key, epsilon), state, jax.random.split(rollout_key, config.num_steps)
        )

        _, last_q = call_on_step(self.model(state.params), state.carry, state.inputs)
        following = next_values(
            trajectory.max_q, remove_time_axis(last_q).max(-1), trajectory.final_max_q, trajectory.terminated, trajectory.truncated
        )
        ended = trajectory.terminated | trajectory.truncated
        targets = lambda_returns(trajectory.reward, following, ended, config.gamma, config.q_lambda)

        time_major = dict(transition=trajectory, targets=targets)
        batch = dict(swap_batch_time(time_major), carry=start_carry)
        params, opt_state, stats = minibatch_epochs(
            self._loss, self.optimizer, state.params, state.opt_state, epoch_key, batch,
            config.num_epochs, config.num_minibatches, self.parallel.split,
        )  # fmt: skip
        metrics = {name: value.mean() for name, value in stats.items()}
        # Before the first gradient step, replaying the rollout must reproduce the Q-values of acting.
        metrics["first_q_deviation"] = stats["max_q_deviation"][0, 0]
        metrics.update(epsilon=epsilon, env_steps=config.env_steps(state.updates + 1), **episode_metrics(trajectory.episode))
        return self._place(state.replace(params=params, opt_state=opt_state, updates=state.updates + 1)), metrics

    # -- train and evaluate -------------------------------------------------------------------

    def _play(self, key, params, num_episodes: int, epsilon: float):
        return play_episodes(self.envs, self.model(params), epsilon_greedy(epsilon), key, num_episodes)

    def evaluate(self, key: jax.Array, state: PQNState, num_episodes: int = 64, epsilon: float = 0.0) -> dict:
        """Plays ``num_episodes`` episodes in parallel, ε-greedily (greedy by default); returns their statistics."""
        return summarize_evaluation(self.name, *self._evaluate(key, state.params, num_episodes, epsilon))
