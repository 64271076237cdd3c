"""PPO (Schulman et al. 2017) for recurrent networks: rollout, GAE, clipped loss, one jitted ``train``.

Memory is handled exactly: each rollout stores the actor's and critic's carry
at its first step, and the update replays whole sequences from those carries
with the rollout's ``done`` flags, so training sees the memory acting saw.
Minibatches split environments, never time.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct
from gymnax.environments import spaces

from memorax.algorithms.common.returns import lambda_returns, next_values
from memorax.environments import RecordEpisodeStatistics
from memorax.networks import Network


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO's hyper-parameters; a wrong value raises a ValueError naming the field.

    ``total_timesteps`` is the horizon over which the learning rate anneals
    linearly to 0 (when ``anneal_lr``); ``train`` may be called in chunks.
    """

    num_envs: int = 16
    num_steps: int = 128
    num_epochs: int = 4
    num_minibatches: int = 4
    total_timesteps: int = 1_000_000
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    clip_value: bool = True
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    anneal_lr: bool = True
    normalize_advantages: bool = True

    def __post_init__(self):
        for name in ("num_envs", "num_steps", "num_epochs", "num_minibatches", "total_timesteps", "clip_coef", "max_grad_norm"):
            if getattr(self, name) <= 0:
                raise ValueError(f"PPOConfig.{name} is {getattr(self, name)}; expected a positive value.")
        for name in ("ent_coef", "vf_coef"):
            if getattr(self, name) < 0:
                raise ValueError(f"PPOConfig.{name} is {getattr(self, name)}; expected >= 0.")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"PPOConfig.gamma is {self.gamma}; expected a value in (0, 1].")
        if not 0 <= self.gae_lambda <= 1:
            raise ValueError(f"PPOConfig.gae_lambda is {self.gae_lambda}; expected a value in [0, 1].")
        if self.num_envs % self.num_minibatches:
            raise ValueError(
                f"PPOConfig.num_envs ({self.num_envs}) must be divisible by num_minibatches ({self.num_minibatches}): "
                "minibatches split environments and keep whole sequences."
            )

    @property
    def rollout_size(self) -> int:
        return self.num_envs * self.num_steps


class ActorCritic(nnx.Module):
    """Holds the two networks, so shared modules are one set of parameters."""

    def __init__(self, actor: Network, critic: Network):
        self.actor = actor
        self.critic = critic


@struct.dataclass
class PPOState:
    params: nnx.State
    opt_state: optax.OptState
    env_state: Any
    obs: jax.Array  # [num_envs, ...]: the observations to act on next
    done: jax.Array  # [num_envs]: whether they start an episode
    prev_action: jax.Array  # [num_envs, action_features]: one-hot for discrete actions; 0 at episode starts
    prev_reward: jax.Array  # [num_envs]
    actor_carry: Any
    critic_carry: Any
    updates: jax.Array


@struct.dataclass
class Transition:
    obs: jax.Array
    done: jax.Array
    prev_action: jax.Array
    prev_reward: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_value: jax.Array
    episode: dict


def _one_step(network: Network, carry, obs, done, prev_action, prev_reward):
    """Calls ``network`` on one step of every environment: sequences of length 1."""
    return network(obs[:, None], done[:, None], carry, prev_action[:, None], prev_reward[:, None])


class PPO:
    """Proximal policy optimisation with recurrent (or feed-forward) actor and critic networks.

    ``state = agent.init(key)``; ``state, metrics = agent.train(key, state,
    num_steps)``; ``agent.evaluate(key, state, num_episodes)``. ``metrics``
    holds one entry per update: losses, entropy, approximate KL, clipped
    fraction, explained variance, ``first_ratio_deviation`` (``max |ratio - 1|``
    on the first minibatch, 0 when replay reproduces acting), and the mean
    return and length of the episodes that ended during the update's rollout
    (NaN when none did; ``episodes`` counts them).

    Args:
      config: a :class:`PPOConfig`.
      env, env_params: a gymnax-style environment with Discrete or Box actions.
      actor: a :class:`Network` with a ``Categorical`` or ``Gaussian`` head.
      critic: a :class:`Network` with a ``VNetwork`` head (may share modules with ``actor``).
      optimizer: an optax transformation, e.g. ``optax.adam(2.5e-4)``; PPO adds
        gradient clipping in front and learning-rate annealing behind it.
    """

    def __init__(self, config: PPOConfig, env, env_params, actor: Network, critic: Network, optimizer: optax.GradientTransformation):
        self.config = config
        self.env = RecordEpisodeStatistics(env)
        self.env_params = env_params
        self.model = ActorCritic(actor, critic)
        space = env.action_space(env_params)
        self.discrete = isinstance(space, spaces.Discrete)
        if not self.discrete and not isinstance(space, spaces.Box):
            raise ValueError(f"PPO: the action space is {space}; expected Discrete or Box.")
        self.action_features = space.n if self.discrete else math.prod(space.shape)
        steps_per_update = config.num_epochs * config.num_minibatches
        total_updates = max(1, config.total_timesteps // config.rollout_size)
        anneal = lambda count: jnp.maximum(1.0 - (count // steps_per_update) / total_updates, 0.0)  # noqa: E731
        self.optimizer = optax.chain(
            optax.clip_by_global_norm(config.max_grad_norm),
            optimizer,
            optax.scale_by_schedule(anneal if config.anneal_lr else lambda count: 1.0),
        )
        self.graphdef = None
        self._train = jax.jit(self._train_updates, static_argnums=2)
        self._evaluate = jax.jit(self._evaluate_episodes, static_argnums=(2, 3))

    # -- set-up -------------------------------------------------------------------------------

    def init(self, key: jax.Array) -> PPOState:
        """Resets the environments and creates the networks' parameters (an eager pass)."""
        env_key, init_key = jax.random.split(key)
        n = self.config.num_envs
        obs, env_state = jax.vmap(self.env.reset, (0, None))(jax.random.split(env_key, n), self.env_params)
        done = jnp.ones(n, bool)
        prev_action, prev_reward = jnp.zeros((n, self.action_features)), jnp.zeros(n)
        example = dict(prev_action=prev_action[:, None], prev_reward=prev_reward[:, None])
        actor_key, critic_key = jax.random.split(init_key)
        self.model.actor.init(nnx.Rngs(actor_key), obs[:, None], done[:, None], **example)
        self.model.critic.init(nnx.Rngs(critic_key), obs[:, None], done[:, None], **example)
        self.graphdef, params = nnx.split(self.model)
        return PPOState(
            params=params,
            opt_state=self.optimizer.init(params),
            env_state=env_state,
            obs=obs,
            done=done,
            prev_action=prev_action,
            prev_reward=prev_reward,
            actor_carry=self.model.actor.initialize_carry(n),
            critic_carry=self.model.critic.initialize_carry(n),
            updates=jnp.array(0),
        )

    def _networks(self, params) -> ActorCritic:
        return nnx.merge(self.graphdef, params)

    def _encode_action(self, action: jax.Array) -> jax.Array:
        return jax.nn.one_hot(action, self.action_features) if self.discrete else action.reshape(action.shape[0], -1)

    def _step_envs(self, key: jax.Array, env_state, action: jax.Array):
        """Steps every environment; also returns the next ``prev_action`` and ``prev_reward`` (0 where episodes start)."""
        keys = jax.random.split(key, action.shape[0])
        obs, env_state, reward, terminated, truncated, info = jax.vmap(self.env.step, (0, 0, 0, None))(
            keys, env_state, action, self.env_params
        )
        # A weakly typed reward would change the state's types after the first call and recompile train.
        reward = reward.astype(jnp.float32)
        ended = terminated | truncated
        prev_action = jnp.where(ended[:, None], 0.0, self._encode_action(action))
        return obs, env_state, reward, terminated, truncated, info, prev_action, jnp.where(ended, 0.0, reward)

    # -- rollout ------------------------------------------------------------------------------

    def _env_step(self, state: PPOState, key: jax.Array) -> tuple[PPOState, Transition]:
        act_key, env_key = jax.random.split(key)
        model = self._networks(state.params)
        inputs = (state.obs, state.done, state.prev_action, state.prev_reward)
        actor_carry, policy = _one_step(model.actor, state.actor_carry, *inputs)
        critic_carry, value = _one_step(model.critic, state.critic_carry, *inputs)
        action = policy.sample(seed=act_key)
        log_prob = policy.log_prob(action)[:, 0]
        action = action[:, 0]

        obs, env_state, reward, terminated, truncated, info, prev_action, prev_reward = self._step_envs(
            env_key, state.env_state, action
        )
        # The value of the observation a truncated episode ended on, seen with the memory it had.
        no_reset = jnp.zeros_like(terminated)
        _, final_value = _one_step(
            model.critic, critic_carry, info["final_observation"], no_reset, self._encode_action(action), reward
        )
        transition = Transition(
            obs=state.obs,
            done=state.done,
            prev_action=state.prev_action,
            prev_reward=state.prev_reward,
            action=action,
            log_prob=log_prob,
            value=value[:, 0],
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            final_value=final_value[:, 0],
            episode=info["episode"],
        )
        state = state.replace(
            env_state=env_state,
            obs=obs,
            done=terminated | truncated,
            prev_action=prev_action,
            prev_reward=prev_reward,
            actor_carry=actor_carry,
            critic_carry=critic_carry,
        )
        return state, transition

    def _last_value(self, state: PPOState) -> jax.Array:
        model = self._networks(state.params)
        _, value = _one_step(model.critic, state.critic_carry, state.obs, state.done, state.prev_action, state.prev_reward)
        return value[:, 0]

    # -- loss and update ----------------------------------------------------------------------

    def _loss(self, params, batch: Transition, carries, advantages, targets):
        """PPO's clipped surrogate, value and entropy terms on batch-major sequences ``[envs, T]``."""
        config = self.config
        model = self._networks(params)
        inputs = (batch.obs, batch.done)
        _, policy = model.actor(*inputs, carries[0], batch.prev_action, batch.prev_reward)
        _, values = model.critic(*inputs, carries[1], batch.prev_action, batch.prev_reward)
        log_prob = policy.log_prob(batch.action)
        log_ratio = log_prob - batch.log_prob
        ratio = jnp.exp(log_ratio)
        if config.normalize_advantages:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        clipped_ratio = jnp.clip(ratio, 1 - config.clip_coef, 1 + config.clip_coef)
        policy_loss = jnp.mean(jnp.maximum(-advantages * ratio, -advantages * clipped_ratio))
        value_error = (values - targets) ** 2
        if config.clip_value:
            clipped = batch.value + jnp.clip(values - batch.value, -config.clip_coef, config.clip_coef)
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

    def _update_epoch(self, carry, key, batch, start_carries, advantages, targets):
        params, opt_state = carry
        config = self.config
        size = config.num_envs // config.num_minibatches
        order = jax.random.permutation(key, config.num_envs).reshape(config.num_minibatches, size)
        take = lambda x, idx: jax.tree.map(lambda leaf: leaf[idx], x)  # noqa: E731

        def minibatch(carry, idx):
            params, opt_state = carry
            grads, stats = jax.grad(self._loss, has_aux=True)(
                params, take(batch, idx), take(start_carries, idx), advantages[idx], targets[idx]
            )
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), stats

        return jax.lax.scan(minibatch, (params, opt_state), order)

    def _update(self, state: PPOState, key: jax.Array) -> tuple[PPOState, dict]:
        config = self.config
        rollout_key, epoch_key = jax.random.split(key)
        start_carries = (state.actor_carry, state.critic_carry)
        state, trajectory = jax.lax.scan(self._env_step, state, jax.random.split(rollout_key, config.num_steps))

        following = next_values(
            trajectory.value, self._last_value(state), trajectory.final_value, trajectory.terminated, trajectory.truncated
        )
        ended = trajectory.terminated | trajectory.truncated
        targets = lambda_returns(trajectory.reward, following, ended, config.gamma, config.gae_lambda)
        advantages = targets - trajectory.value  # GAE

        batch_major = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731
        batch = jax.tree.map(batch_major, trajectory)
        update_epoch = lambda carry, key: self._update_epoch(  # noqa: E731
            carry, key, batch, start_carries, batch_major(advantages), batch_major(targets)
        )
        (params, opt_state), stats = jax.lax.scan(
            update_epoch, (state.params, state.opt_state), jax.random.split(epoch_key, config.num_epochs)
        )
        episode = trajectory.episode
        episodes = episode["done"].sum()
        mean_over_episodes = lambda x: jnp.where(episodes > 0, (x * episode["done"]).sum() / episodes, jnp.nan)  # noqa: E731
        metrics = {name: value.mean() for name, value in stats.items()}
        # Before the first gradient step, replaying the rollout must reproduce its log-probabilities.
        metrics["first_ratio_deviation"] = stats["ratio_deviation"][0, 0]
        metrics.update(
            explained_variance=1 - jnp.var(targets - trajectory.value) / (jnp.var(targets) + 1e-8),
            episode_return=mean_over_episodes(episode["return"]),
            episode_length=mean_over_episodes(episode["length"]),
            episodes=episodes,
            env_steps=(state.updates + 1) * config.rollout_size,
        )
        return state.replace(params=params, opt_state=opt_state, updates=state.updates + 1), metrics

    # -- train and evaluate -------------------------------------------------------------------

    def _train_updates(self, key: jax.Array, state: PPOState, num_updates: int):
        return jax.lax.scan(self._update, state, jax.random.split(key, num_updates))

    def train(self, key: jax.Array, state: PPOState, num_steps: int) -> tuple[PPOState, dict]:
        """Runs ``num_steps // (num_envs * num_steps)`` updates (at least one) in one jitted scan."""
        if self.graphdef is None:
            raise RuntimeError("PPO.train: call agent.init(key) first.")
        return self._train(key, state, max(1, num_steps // self.config.rollout_size))

    def _evaluate_episodes(self, key, params, num_episodes: int, deterministic: bool):
        model = self._networks(params)
        reset_key, run_key = jax.random.split(key)
        obs, env_state = jax.vmap(self.env.reset, (0, None))(jax.random.split(reset_key, num_episodes), self.env_params)
        zeros = jnp.zeros(num_episodes)
        inputs = (obs, jnp.ones(num_episodes, bool), jnp.zeros((num_episodes, self.action_features)), zeros)
        start = (inputs, env_state, model.actor.initialize_carry(num_episodes), jnp.zeros(num_episodes, bool), zeros, zeros)

        def step(carry, key):
            inputs, env_state, actor_carry, finished, returns, lengths = carry
            act_key, env_key = jax.random.split(key)
            actor_carry, policy = _one_step(model.actor, actor_carry, *inputs)
            action = (policy.mode() if deterministic else policy.sample(seed=act_key))[:, 0]
            obs, env_state, _, terminated, truncated, info, prev_action, prev_reward = self._step_envs(
                env_key, env_state, action
            )
            ended = terminated | truncated
            first = ended & ~finished
            returns = jnp.where(first, info["episode"]["return"], returns)
            lengths = jnp.where(first, info["episode"]["length"], lengths)
            inputs = (obs, ended, prev_action, prev_reward)
            return (inputs, env_state, actor_carry, finished | ended, returns, lengths), None

        horizon = int(self.env_params.max_steps_in_episode)
        (*_, finished, returns, lengths), _ = jax.lax.scan(step, start, jax.random.split(run_key, horizon))
        return finished, returns, lengths

    def evaluate(self, key: jax.Array, state: PPOState, num_episodes: int = 64, deterministic: bool = True) -> dict:
        """Plays ``num_episodes`` episodes in parallel with the actor; returns their statistics."""
        finished, returns, lengths = self._evaluate(key, state.params, num_episodes, deterministic)
        if not bool(finished.all()):
            raise RuntimeError("PPO.evaluate: some episodes did not end within env_params.max_steps_in_episode.")
        return dict(mean_return=float(returns.mean()), std_return=float(returns.std()), mean_length=float(lengths.mean()), returns=returns)
