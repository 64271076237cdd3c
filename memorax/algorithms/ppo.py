"""PPO (Schulman et al. 2017) for recurrent networks: rollout, GAE, clipped loss, one jitted ``train``.

Memory is handled exactly: each rollout stores the actor's and critic's carry
at its first step, and the update replays whole sequences from those carries
with the rollout's ``done`` flags, so training sees the memory acting saw.
Minibatches split environments, never time.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct
from jax.sharding import Mesh

from memorax.algorithms.common.agent import Agent
from memorax.algorithms.common.axes import add_time_axis, remove_time_axis, swap_batch_time
from memorax.algorithms.common.config import OnPolicyConfig
from memorax.algorithms.common.episodes import episode_metrics, play_episodes, summarize_evaluation
from memorax.algorithms.common.minibatches import minibatch_epochs
from memorax.algorithms.common.returns import lambda_returns, next_values
from memorax.algorithms.common.vector_env import (
    StepInputs,
    VectorEnv,
    build_on_step,
    call_on_step,
    require_policy,
    require_values,
)
from memorax.networks import Network
from memorax.parallel import DataParallel


@dataclasses.dataclass(frozen=True)
class PPOConfig(OnPolicyConfig):
    """PPO's hyper-parameters (the shared ones are in :class:`~memorax.algorithms.common.config.OnPolicyConfig`); a wrong value raises a ValueError naming the field."""

    num_envs: int = 16
    """Environments stepped in parallel."""
    num_steps: int = 128
    """Steps per environment in each rollout."""
    num_minibatches: int = 4
    """Minibatches per pass; they split environments, so num_envs must be divisible by it."""
    max_grad_norm: float = 0.5
    """Gradients are clipped to this global norm."""

    gae_lambda: float = 0.95
    """λ of generalised advantage estimation."""
    clip_coef: float = 0.2
    """Clipping range of the policy ratio (and of the value change when clip_value)."""
    clip_value: bool = True
    """Clip the value loss around the rollout's values."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    normalize_advantages: bool = True
    """Standardise advantages within each minibatch."""

    def __post_init__(self):
        super().__post_init__()
        self._require_positive("clip_coef")
        self._require_non_negative("ent_coef", "vf_coef")
        self._require_within("gae_lambda", 0, 1)


class ActorCritic(nnx.Module):
    """Holds the two networks, so shared modules are one set of parameters; a torso they share runs once."""

    def __init__(self, actor: Network, critic: Network):
        self.actor = actor
        self.critic = critic

    @property
    def shares_torso(self) -> bool:
        """True when actor and critic share one feature extractor and one torso (or have none), which then run once.

        A torso given to both networks unwrapped is one model in two wrappers (each ``Network`` wraps its own).
        """
        torsos = [getattr(torso, "model", torso) for torso in (self.actor.torso, self.critic.torso)]
        return self.actor.feature_extractor is self.critic.feature_extractor and torsos[0] is torsos[1]

    def __call__(self, inputs: StepInputs, actor_carry: Any, critic_carry: Any) -> tuple[Any, Any, Any, jax.Array]:
        """``(actor_carry, critic_carry, policy, value)`` on batch-major ``inputs`` ``[B, T, ...]``.

        With a shared torso both carries are the same, and the torso runs once for both heads.
        """
        network_inputs = (inputs.obs, inputs.done)
        if self.shares_torso:
            carry, features = self.actor.encode(*network_inputs, actor_carry, inputs.prev_action, inputs.prev_reward)
            return carry, carry, self.actor.head(features), self.critic.head(features)
        actor_carry, policy = self.actor(*network_inputs, actor_carry, inputs.prev_action, inputs.prev_reward)
        critic_carry, value = self.critic(*network_inputs, critic_carry, inputs.prev_action, inputs.prev_reward)
        return actor_carry, critic_carry, policy, value


@struct.dataclass
class PPOState:
    params: nnx.State
    opt_state: optax.OptState
    env_state: Any
    inputs: StepInputs  # what the networks read at the next step
    actor_carry: Any
    critic_carry: Any
    updates: jax.Array


@struct.dataclass
class PPOTransition:
    inputs: StepInputs
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_value: jax.Array
    episode: dict


class PPO(Agent):
    """Proximal policy optimisation with recurrent (or feed-forward) actor and critic networks.

    ``state = agent.init(key)``; ``state, metrics = agent.train(key, state,
    total_steps)``; ``agent.evaluate(key, state, num_episodes)``. ``metrics``
    holds one entry per update: losses, entropy, approximate KL, clipped
    fraction, explained variance, ``first_ratio_deviation`` (``max |ratio - 1|``
    on the first minibatch, 0 when replay reproduces acting), and the mean
    return and length of the episodes that ended during the update's rollout
    (NaN when none did; ``episodes`` counts them).

    Args:
      config: a :class:`PPOConfig`.
      env, env_params: a gymnax-style environment with Discrete or Box actions, and its parameters.
      actor: a :class:`~memorax.networks.Network` with a ``Categorical`` or ``Gaussian`` head.
      critic: a :class:`~memorax.networks.Network` with a ``VNetwork`` head (may share modules with ``actor``).
      optimizer: an optax transformation, e.g. ``optax.adam(2.5e-4)``; PPO adds
        gradient clipping in front and learning-rate annealing behind it.
      mesh: the devices to split environments and minibatches over (default:
        all of them, see docs/scaling.md); ``num_envs / num_minibatches`` must
        be divisible by the size of its ``data`` axis.
    """

    name = "PPO"
    greedy = True
    sampled = False

    def __init__(
        self,
        config: PPOConfig,
        env,
        env_params,
        actor: Network,
        critic: Network,
        optimizer: optax.GradientTransformation,
        mesh: Mesh | None = None,
    ):
        self.config = config
        self.envs = VectorEnv(env, env_params, self.name)
        self.envs.check_action_dims(actor=actor)
        self.parallel = DataParallel(mesh, self.name, config.split_sizes)
        self.optimizer = config.optimizer(optimizer)
        example = self.envs.example_inputs()
        build_on_step(actor, example)
        build_on_step(critic, example)
        require_policy(self.name, "actor", actor, example)
        require_values(self.name, "critic", critic, example, None, "heads.VNetwork")
        self._set_model(ActorCritic(actor, critic))

    # -- set-up -------------------------------------------------------------------------------

    def init(self, key: jax.Array) -> PPOState:
        """Resets the environments and draws the networks' parameters: a pure function of ``key``."""
        env_key, params_key = jax.random.split(key)
        n = self.config.num_envs
        env_state, inputs = self.envs.reset(env_key, n)
        model = self._draw_model(params_key)
        params = nnx.state(model)
        state = PPOState(
            params=params,
            opt_state=self.optimizer.init(params),
            env_state=env_state,
            inputs=inputs,
            actor_carry=model.actor.initialize_carry(n),
            critic_carry=model.critic.initialize_carry(n),
            updates=jnp.array(0),
        )
        return self._place(state)

    def _place(self, state: PPOState) -> PPOState:
        split = self.parallel.split
        return self.parallel.place(state, env_state=split, inputs=split, actor_carry=split, critic_carry=split)

    # -- rollout ------------------------------------------------------------------------------

    def _env_step(self, state: PPOState, key: jax.Array) -> tuple[PPOState, PPOTransition]:
        act_key, env_key = jax.random.split(key)
        model = self.model(state.params)
        actor_carry, critic_carry, policy, value = model(add_time_axis(state.inputs), state.actor_carry, state.critic_carry)
        action = policy.sample(seed=act_key)
        action, log_prob = remove_time_axis((action, policy.log_prob(action)))

        env_state, inputs, reward, terminated, truncated, info = self.envs.step(env_key, state.env_state, action)
        # The value of the observation a truncated episode ended on, seen with the memory it had.
        _, final_value = call_on_step(model.critic, critic_carry, self.envs.final_inputs(action, reward, info))
        transition = PPOTransition(
            inputs=state.inputs,
            action=action,
            log_prob=log_prob,
            value=remove_time_axis(value),
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            final_value=remove_time_axis(final_value),
            episode=info["episode"],
        )
        state = state.replace(env_state=env_state, inputs=inputs, actor_carry=actor_carry, critic_carry=critic_carry)
        return state, transition

    def _last_value(self, state: PPOState) -> jax.Array:
        _, value = call_on_step(self.model(state.params).critic, state.critic_carry, state.inputs)
        return remove_time_axis(value)

    # -- loss and update ----------------------------------------------------------------------

    def _loss(self, params, batch: dict):
        """PPO's clipped surrogate, value and entropy terms on batch-major sequences ``[envs, T]``."""
        config = self.config
        model = self.model(params)
        step = batch["transition"]
        _, _, policy, values = model(step.inputs, batch["actor_carry"], batch["critic_carry"])
        advantages, targets = batch["advantages"], batch["targets"]
        log_prob = policy.log_prob(step.action)
        log_ratio = log_prob - step.log_prob
        ratio = jnp.exp(log_ratio)
        if config.normalize_advantages:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        clipped_ratio = jnp.clip(ratio, 1 - config.clip_coef, 1 + config.clip_coef)
        policy_loss = jnp.mean(jnp.maximum(-advantages * ratio, -advantages * clipped_ratio))
        value_error = (values - targets) ** 2
        if config.clip_value:
            clipped = step.value + jnp.clip(values - step.value, -config.clip_coef, config.clip_coef)
            value_error = jnp.maximum(value_error, (clipped - targets) ** 2)
        value_loss = 0.5 * jnp.mean(value_error)
        entropy = jnp.mean(policy.entropy())
        loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy
        return loss, dict(
            loss=loss,
            policy_loss=policy_loss,
            value_loss=value_loss,
            entropy=entropy,
            approx_kl=jnp.mean((ratio - 1) - log_ratio),
            clip_fraction=jnp.mean(jnp.abs(ratio - 1) > config.clip_coef),
            ratio_deviation=jnp.max(jnp.abs(ratio - 1)),
        )

    def _iteration(self, state: PPOState, key: jax.Array) -> tuple[PPOState, dict]:
        config = self.config
        rollout_key, epoch_key = jax.random.split(key)
        start_carries = dict(actor_carry=state.actor_carry, critic_carry=state.critic_carry)
        state, trajectory = jax.lax.scan(self._env_step, state, jax.random.split(rollout_key, config.num_steps))

        following = next_values(
            trajectory.value, self._last_value(state), trajectory.final_value, trajectory.terminated, trajectory.truncated
        )
        ended = trajectory.terminated | trajectory.truncated
        targets = lambda_returns(trajectory.reward, following, ended, config.gamma, config.gae_lambda)
        advantages = targets - trajectory.value  # GAE

        time_major = dict(transition=trajectory, advantages=advantages, targets=targets)
        batch = dict(swap_batch_time(time_major), **start_carries)
        params, opt_state, stats = minibatch_epochs(
            self._loss, self.optimizer, state.params, state.opt_state, epoch_key, batch,
            config.num_epochs, config.num_minibatches, self.parallel.split,
        )  # fmt: skip
        metrics = {name: value.mean() for name, value in stats.items()}
        # Before the first gradient step, replaying the rollout must reproduce its log-probabilities.
        metrics["first_ratio_deviation"] = stats["ratio_deviation"][0, 0]
        metrics.update(
            explained_variance=1 - jnp.var(targets - trajectory.value) / (jnp.var(targets) + 1e-8),
            env_steps=config.env_steps(state.updates + 1),
            **episode_metrics(trajectory.episode),
        )
        return self._place(state.replace(params=params, opt_state=opt_state, updates=state.updates + 1)), metrics

    # -- train and evaluate -------------------------------------------------------------------

    def _play(self, key, params, num_episodes: int, deterministic: bool):
        def choose(policy, key):
            return remove_time_axis(policy.mode() if deterministic else policy.sample(seed=key))

        return play_episodes(self.envs, self.model(params).actor, choose, key, num_episodes)

    def evaluate(self, key: jax.Array, state: PPOState, num_episodes: int = 64, deterministic: bool = True) -> dict:
        """Plays ``num_episodes`` episodes in parallel with the actor; returns their statistics."""
        return summarize_evaluation(self.name, *self._evaluate(key, state.params, num_episodes, deterministic))
