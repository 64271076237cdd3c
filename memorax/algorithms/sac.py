"""SAC (Haarnoja et al. 2018) for continuous actions, and for discrete actions (Christodoulou 2019), with sequence replay.

Every vector step samples actions from the actor in ``num_envs`` environments
(uniformly at random before ``learning_starts``) and stores the step, with
the carries the actor and the twin critics read it with, in a
:class:`SequenceReplay`. Every ``train_every`` vector steps, ``updates_per_train``
updates each sample sequences and, from their stored carries (the first
``burn_in`` steps only refresh them), take one gradient step on

- the critics: ``Σ_i ½ (Q_i(s_t, a_t) - y_t)²`` with n-step soft targets ``y``
  bootstrapped from ``V(s) = E_{a~π}[min_i Q̄_i(s, a) - α log π(a | s)]``,
  where ``Q̄`` are Polyak-averaged target critics;
- the actor: ``E_{a~π}[α log π(a | s_t) - min_i Q_i(s_t, a)]``;
- the temperature: ``log α (H(π(· | s_t)) - H_target)``, so that α rises
  while the policy's entropy is below its target.

With continuous actions the expectations over ``a ~ π`` use one
reparameterised sample of the squashed Gaussian; with discrete actions they
are exact sums over the actions. The three losses are minimised together,
each only over its own parameters, from the same sample.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, struct
from jax.sharding import Mesh

from memorax.algorithms.common.agent import Agent
from memorax.algorithms.common.axes import (
    add_time_axis,
    first_environment,
    first_step,
    remove_time_axis,
    step_at,
    swap_batch_time,
)
from memorax.algorithms.common.config import ReplayConfig
from memorax.algorithms.common.episodes import episode_metrics, play_episodes, summarize_evaluation
from memorax.algorithms.common.returns import n_step_returns, next_values
from memorax.algorithms.common.sequences import carry_staleness, sequence_values, unroll
from memorax.algorithms.common.vector_env import StepInputs, VectorEnv, build_on_step, call_on_step
from memorax.buffers import SequenceReplay
from memorax.networks import Network, heads
from memorax.parallel import DataParallel

NUM_CRITICS = 2


@dataclasses.dataclass(frozen=True)
class SACConfig(ReplayConfig):
    """SAC's hyper-parameters: the sequence layout of :class:`~memorax.algorithms.common.config.ReplayConfig`, updates, targets and the temperature.

    With MLPs and the defaults (length 2, no burn-in, 1-step targets) this is the SAC of the paper.
    """

    batch_size: int = 256
    """Sequences per update."""
    learning_starts: int = 5_000
    """Environment steps of uniformly random actions before the first update."""
    updates_per_train: int = 1
    """Updates at each training."""
    tau: float = 0.005
    """Target critics follow ``θ' ← τ θ + (1 - τ) θ'`` after every update."""
    initial_alpha: float = 1.0
    """The temperature α at the start."""
    target_entropy: float | None = None
    """The entropy α steers the policy to; None means -action_dim for continuous actions, 0.5 log(num_actions) for discrete."""

    def __post_init__(self):
        super().__post_init__()
        self._require_positive("updates_per_train", "initial_alpha")
        self._require_within("tau", 0, 1, low_open=True)
        if self.target_entropy is not None and not math.isfinite(self.target_entropy):
            raise ValueError(f"SACConfig.target_entropy is {self.target_entropy}; expected a finite value or None.")


@struct.dataclass
class SACReplayStep:
    """One step of one environment as the replay keeps it."""

    inputs: StepInputs  # what the networks read
    actor_carry: Any  # the carry the actor read them with
    critic_carry: Any  # the twin critics' carries, [NUM_CRITICS, ...] per leaf
    action: jax.Array  # an action index, or a continuous action in [-1, 1]
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array  # the observation the step ended on, before any auto-reset


@struct.dataclass
class SACState:
    """``params`` and ``opt_state`` hold three parts: ``actor``, ``critics`` (stacked twins) and ``log_alpha``."""

    params: dict
    target_critic_params: nnx.State
    opt_state: dict
    replay: Any
    env_state: Any
    inputs: StepInputs
    actor_carry: Any
    critic_carry: Any
    env_steps: jax.Array
    updates: jax.Array


def discrete_soft_value(logits: jax.Array, q: jax.Array, alpha: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Exact ``V = Σ_a π(a) (min_i Q_i(a) - α log π(a))`` and entropy ``H = -Σ_a π(a) log π(a)``.

    ``logits [..., actions]``, ``q [NUM_CRITICS, ..., actions]``; both results ``[...]``.
    """
    log_probs = jax.nn.log_softmax(logits)
    probs = jnp.exp(log_probs)
    return (probs * (q.min(0) - alpha * log_probs)).sum(-1), -(probs * log_probs).sum(-1)


def continuous_soft_value(q: jax.Array, log_prob: jax.Array, alpha: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One-sample estimates ``V ≈ min_i Q_i(a) - α log π(a)`` and ``H ≈ -log π(a)`` at a sampled ``a ~ π``.

    ``q [NUM_CRITICS, ...]`` of the sampled action, ``log_prob [...]``; both results ``[...]``.
    """
    return q.min(0) - alpha * log_prob, -log_prob


def _module_ids(network: Network) -> set[int]:
    return {id(node) for _, node in nnx.iter_graph(network) if isinstance(node, nnx.Module)}


class SAC(Agent):
    """Soft actor-critic with twin critics, a tuned temperature and sequence replay; recurrent networks get burn-in.

    ``state = agent.init(key)``; ``state, metrics = agent.train(key, state,
    total_steps)``; ``agent.evaluate(key, state, num_episodes, deterministic=True)``.
    ``metrics`` holds one entry per vector step: ``critic_loss``,
    ``actor_loss``, ``alpha``, ``entropy``, ``q``, ``actor_carry_staleness``
    and ``critic_carry_staleness`` (NaN at steps without an update),
    ``env_steps`` and the episode statistics. The staleness metrics compare
    the carries stored for the first trained step with those the burn-in
    recomputes, as DQN's ``carry_staleness`` (NaN without burn-in).

    Args:
      config: a :class:`SACConfig`.
      env, env_params: a gymnax-style environment with Box actions (the actor's
        ``[-1, 1]`` is scaled to the box's bounds) or Discrete actions, and its parameters.
      actor: a :class:`~memorax.networks.Network` with a ``SquashedGaussian`` head for Box
        actions, a ``Categorical`` head for Discrete ones.
      critic: a :class:`~memorax.networks.Network` with a ``ContinuousQNetwork`` head for Box
        actions, a ``DiscreteQNetwork`` head for Discrete ones. SAC trains two
        copies of it, with parameters drawn independently. It may not share
        modules with the actor.
      optimizer: an optax transformation, e.g. ``optax.adam(3e-4)``, applied to
        each part with gradient clipping in front.
      mesh: the devices to split environments, the replay and sampled batches
        over (default: all of them, see docs/scaling.md); ``num_envs`` and
        ``batch_size`` must be divisible by the size of its ``data`` axis.
    """

    name = "SAC"
    greedy = True
    sampled = False

    def __init__(
        self,
        config: SACConfig,
        env,
        env_params,
        actor: Network,
        critic: Network,
        optimizer: optax.GradientTransformation,
        mesh: Mesh | None = None,
    ):
        self.config = config
        self.envs = VectorEnv(env, env_params, self.name)
        self.parallel = DataParallel(mesh, self.name, config.split_sizes)
        discrete = self.envs.discrete
        expected = (heads.Categorical, heads.DiscreteQNetwork) if discrete else (heads.SquashedGaussian, heads.ContinuousQNetwork)
        for role, network, head in (("actor", actor, expected[0]), ("critic", critic, expected[1])):
            if not isinstance(network.head, head):
                raise ValueError(
                    f"SAC: the {role}'s head is {type(network.head).__name__}; expected {head.__name__} "
                    f"for the action space {env.action_space(env_params)}."
                )
        self.envs.check_action_dims(actor=actor, critic=critic)
        if _module_ids(actor) & _module_ids(critic):
            raise ValueError("SAC: the actor and the critic share modules; SAC trains them separately, so build each its own.")
        if not discrete:
            space = env.action_space(env_params)
            if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
                raise ValueError(
                    f"SAC: the action space is {space}, unbounded; SAC squashes its actions into [low, high], so both "
                    "must be finite: bound the environment's actions."
                )
            self.action_low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), space.shape)
            self.action_high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), space.shape)
        num_actions = self.envs.action_features
        if config.target_entropy is not None:
            # The uniform policy's entropy: log n over n actions, d log 2 for a tanh-squashed action in [-1, 1]^d.
            ceiling = math.log(num_actions) if discrete else num_actions * math.log(2)
            policies = f"{num_actions} actions" if discrete else f"[-1, 1]^{num_actions}"
            if config.target_entropy >= ceiling:
                raise ValueError(
                    f"SACConfig.target_entropy is {config.target_entropy}; expected below {ceiling:.4g}, the largest entropy of a "
                    f"policy over {policies}: a target no policy reaches makes the temperature α grow without end."
                )
            self.target_entropy = config.target_entropy
        else:
            self.target_entropy = 0.5 * math.log(num_actions) if discrete else -float(num_actions)
        self.optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optimizer)
        self.replay = SequenceReplay(config.num_envs, config.buffer_size, config.sequence_length, config.batch_size, config.stride)
        example = self.envs.example_inputs()
        build_on_step(actor, example)
        build_on_step(critic, example, **self._action_kwargs(self._random_actions(jax.random.key(0), 1)))
        self._set_model(nnx.List([actor, critic, nnx.clone(critic)]))
        self.actor_graphdef = nnx.graphdef(actor)
        self.critic_graphdef = nnx.graphdef(critic)

    def init(self, key: jax.Array) -> SACState:
        """Resets the environments, draws the networks' parameters and makes an empty replay: a pure function of ``key``.

        The twin critics' parameters are drawn independently, whatever their modules.
        """
        env_key, params_key = jax.random.split(key)
        n = self.config.num_envs
        env_state, inputs = self.envs.reset(env_key, n)
        actor, *critics = self._draw_model(params_key)
        critic_params = self._stack([nnx.state(critic) for critic in critics])
        params = dict(actor=nnx.state(actor), critics=critic_params, log_alpha=jnp.log(jnp.float32(self.config.initial_alpha)))
        actor_carry = actor.initialize_carry(n)
        critic_carry = self._stack([critic.initialize_carry(n) for critic in critics])
        stored = SACReplayStep(
            inputs=first_environment(inputs),
            actor_carry=first_environment(actor_carry),
            critic_carry=first_environment(self._env_major(critic_carry)),
            action=first_environment(self._random_actions(env_key, n)),
            reward=jnp.zeros(()),
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
            final_obs=first_environment(inputs.obs),
        )
        state = SACState(
            params=params,
            target_critic_params=critic_params,
            opt_state={part: self.optimizer.init(value) for part, value in params.items()},
            replay=self.replay.init(stored),
            env_state=env_state,
            inputs=inputs,
            actor_carry=actor_carry,
            critic_carry=critic_carry,
            env_steps=jnp.array(0),
            updates=jnp.array(0),
        )
        return self._place(state)

    def _place(self, state: SACState) -> SACState:
        split = self.parallel.split
        return self.parallel.place(
            state,
            replay=lambda replay: self.replay.place(replay, self.parallel),
            env_state=split,
            inputs=split,
            actor_carry=split,
            critic_carry=lambda carry: split(carry, axis=1),  # [critics, envs, ...]
        )

    # -- actions and networks -----------------------------------------------------------------

    @staticmethod
    def _stack(trees: list) -> Any:
        return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)

    @staticmethod
    def _env_major(critic_carry: Any) -> Any:
        """``[NUM_CRITICS, envs, ...] -> [envs, NUM_CRITICS, ...]``, and back: the replay indexes environments first."""
        return jax.tree.map(lambda leaf: jnp.swapaxes(leaf, 0, 1), critic_carry)

    def _random_actions(self, key: jax.Array, n: int) -> jax.Array:
        if self.envs.discrete:
            return jax.random.randint(key, (n,), 0, self.envs.action_features)
        return jax.random.uniform(key, (n, self.envs.action_features), minval=-1.0, maxval=1.0)

    def _env_action(self, action: jax.Array) -> jax.Array:
        """The environment's action for a stored one ``[..., action_dim]``: ``[-1, 1]`` scaled to the box."""
        if self.envs.discrete:
            return action
        action = action.reshape(action.shape[:-1] + self.action_low.shape)
        return self.action_low + 0.5 * (action + 1.0) * (self.action_high - self.action_low)

    def _action_kwargs(self, action: jax.Array | None) -> dict:
        """The critic's head keywords: a continuous Q-network reads the action, a discrete one values every action."""
        return {} if self.envs.discrete else dict(action=action)

    def _critic(self, params) -> Network:
        return nnx.merge(self.critic_graphdef, params)

    def _critics_on_step(self, params, carries, inputs: StepInputs, action: jax.Array | None):
        """Both critics on one step: ``(carries, q)``, q ``[NUM_CRITICS, envs, 1(, num_actions)]``."""
        kwargs = self._action_kwargs(action)
        return jax.vmap(lambda p, c: call_on_step(self._critic(p), c, inputs, **kwargs))(params, carries)

    def _critics_on_sequences(self, params, inputs: StepInputs, start, action: jax.Array | None) -> jax.Array:
        """Both critics over whole sequences from ``start``: q ``[NUM_CRITICS, batch, time(, num_actions)]``."""
        kwargs = self._action_kwargs(action)
        return jax.vmap(lambda p, c: unroll(self._critic(p), inputs, c, **kwargs)[1])(params, start)

    def _critic_features(self, params, inputs: StepInputs, start) -> tuple[Any, jax.Array]:
        """Both critics' carries after burn-in and features (their heads' input) on the steps after it:
        ``[NUM_CRITICS, batch, time - burn_in, H]``."""
        return jax.vmap(lambda p, c: unroll(self._critic(p).encode, inputs, c, self.config.burn_in))(params, start)

    def _critic_heads(self, params, features: jax.Array, action: jax.Array | None) -> jax.Array:
        """Both critics' heads on their features: q ``[NUM_CRITICS, batch, time(, num_actions)]``."""
        kwargs = self._action_kwargs(action)
        return jax.vmap(lambda p, f: self._critic(p).head(f, **kwargs))(params, features)

    def _taken(self, q: jax.Array, action: jax.Array) -> jax.Array:
        """Q of the taken actions ``[NUM_CRITICS, batch, time]``."""
        if not self.envs.discrete:
            return q
        return jnp.take_along_axis(q, jnp.broadcast_to(action[None, ..., None], q.shape[:-1] + (1,)), axis=-1)[..., 0]

    # -- acting -------------------------------------------------------------------------------

    def _iteration(self, state: SACState, key: jax.Array) -> tuple[SACState, dict]:
        config = self.config
        act_key, random_key, env_key, update_key = jax.random.split(key, 4)
        actor = nnx.merge(self.actor_graphdef, state.params["actor"])
        actor_carry, policy = call_on_step(actor, state.actor_carry, state.inputs)
        warming_up = state.env_steps < config.learning_starts
        action = jnp.where(warming_up, self._random_actions(random_key, config.num_envs), remove_time_axis(policy.sample(seed=act_key)))
        # The critics' outputs are not needed to act; their carries are, to replay sequences from.
        critic_carry, _ = self._critics_on_step(state.params["critics"], state.critic_carry, state.inputs, add_time_axis(action))
        env_state, inputs, reward, terminated, truncated, info = self.envs.step(env_key, state.env_state, self._env_action(action))
        stored = SACReplayStep(
            state.inputs, state.actor_carry, self._env_major(state.critic_carry), action, reward, terminated, truncated,
            info["final_observation"],
        )  # fmt: skip
        state = state.replace(
            replay=self.replay.add(state.replay, stored),
            env_state=env_state,
            inputs=inputs,
            actor_carry=actor_carry,
            critic_carry=critic_carry,
            env_steps=state.env_steps + config.num_envs,
        )
        vector_steps = state.env_steps // config.num_envs
        ready = (state.env_steps >= config.learning_starts) & (vector_steps % config.train_every == 0)
        state, stats = jax.lax.cond(ready, self._updates, self._no_update, state, update_key)
        return self._place(state), dict(stats, env_steps=state.env_steps, **episode_metrics(info["episode"]))

    # -- learning -----------------------------------------------------------------------------

    def _targets(self, params, target_critic_params, batch: SACReplayStep, actor_start, critic_start, key) -> jax.Array:
        """n-step soft targets ``[batch, trained_steps]``, bootstrapped by the episode-end rule."""
        config = self.config
        actor = nnx.merge(self.actor_graphdef, params["actor"])
        alpha = jnp.exp(params["log_alpha"])

        def value_of(carries, inputs, key):
            _, policy = unroll(actor, inputs, carries[0])
            if self.envs.discrete:
                q = self._critics_on_sequences(target_critic_params, inputs, carries[1], None)
                return discrete_soft_value(policy.logits, q, alpha)[0]
            action, log_prob = policy.sample_and_log_prob(seed=key)
            q = self._critics_on_sequences(target_critic_params, inputs, carries[1], action)
            return continuous_soft_value(q, log_prob, alpha)[0]

        final = self.envs.final_inputs(self._env_action(batch.action), batch.reward, {"final_observation": batch.final_obs})
        values, final_values = sequence_values(value_of, (actor_start, critic_start), batch.inputs, final, batch.truncated, key)
        reward, terminated, truncated = swap_batch_time((batch.reward, batch.terminated, batch.truncated))
        following = next_values(values, values[-1], final_values, terminated, truncated)
        targets = n_step_returns(reward, following, terminated | truncated, config.gamma, config.n_step)
        return swap_batch_time(targets)[:, config.burn_in : config.burn_in + config.trained_steps]

    def _loss(self, params, target_critic_params, batch: SACReplayStep, key: jax.Array):
        config = self.config
        target_key, actor_key = jax.random.split(key)
        trained = slice(0, config.trained_steps)
        actor_start = first_step(batch.actor_carry)
        critic_start = self._env_major(first_step(batch.critic_carry))
        constant = jax.lax.stop_gradient(params)
        alpha = jnp.exp(constant["log_alpha"])

        targets = jax.lax.stop_gradient(self._targets(constant, target_critic_params, batch, actor_start, critic_start, target_key))
        stored_action = None if self.envs.discrete else batch.action[:, config.burn_in :]
        warm_critic_carries, features = self._critic_features(params["critics"], batch.inputs, critic_start)
        q = self._critic_heads(params["critics"], features, stored_action)
        q_taken = self._taken(q, batch.action[:, config.burn_in :])[:, :, trained]
        critic_loss = 0.5 * ((q_taken - targets) ** 2).mean(axis=(1, 2)).sum()

        actor = nnx.merge(self.actor_graphdef, params["actor"])
        warm_actor_carry, policy = unroll(actor, batch.inputs, actor_start, config.burn_in)

        if self.envs.discrete:  # the critic loss's q already values every action
            value, entropy = discrete_soft_value(policy.logits, jax.lax.stop_gradient(q), alpha)
        else:
            action, log_prob = policy.sample_and_log_prob(seed=actor_key)
            # A critic's features do not depend on the action: the sampled actions reuse them, as constants.
            q_sampled = self._critic_heads(constant["critics"], jax.lax.stop_gradient(features), action)
            value, entropy = continuous_soft_value(q_sampled, log_prob, alpha)
        actor_loss = -value[:, trained].mean()
        entropy = jax.lax.stop_gradient(entropy[:, trained].mean())
        alpha_loss = params["log_alpha"] * (entropy - self.target_entropy)

        stats = dict(critic_loss=critic_loss, actor_loss=actor_loss, alpha=alpha, entropy=entropy, q=q_taken.mean())
        stats.update(self._staleness(batch, warm_actor_carry, warm_critic_carries))
        return critic_loss + actor_loss + alpha_loss, stats

    def _staleness(self, batch, warm_actor_carry: Any, warm_critic_carries: Any) -> dict:
        """``actor_carry_staleness`` and ``critic_carry_staleness`` (both critics' sequences pooled); NaN without burn-in."""
        burn_in = self.config.burn_in
        if not burn_in:
            return dict(actor_carry_staleness=jnp.float32(jnp.nan), critic_carry_staleness=jnp.float32(jnp.nan))
        stored_critic_carries = self._env_major(step_at(batch.critic_carry, burn_in))
        pooled = lambda tree: jax.tree.map(lambda leaf: leaf.reshape(-1, *leaf.shape[2:]), tree)  # [critics * batch, ...]
        return dict(
            actor_carry_staleness=carry_staleness(warm_actor_carry, step_at(batch.actor_carry, burn_in)),
            critic_carry_staleness=carry_staleness(pooled(warm_critic_carries), pooled(stored_critic_carries)),
        )

    def _update(self, state: SACState, key: jax.Array) -> tuple[SACState, dict]:
        sample_key, loss_key = jax.random.split(key)
        batch = self.parallel.split(self.replay.sample(state.replay, sample_key).experience)
        grads, stats = jax.grad(self._loss, has_aux=True)(state.params, state.target_critic_params, batch, loss_key)
        params, opt_state = {}, {}
        for part, value in state.params.items():
            updates, opt_state[part] = self.optimizer.update(grads[part], state.opt_state[part], value)
            params[part] = optax.apply_updates(value, updates)
        target = optax.incremental_update(params["critics"], state.target_critic_params, self.config.tau)
        state = state.replace(params=params, target_critic_params=target, opt_state=opt_state, updates=state.updates + 1)
        return state, stats

    def _updates(self, state: SACState, key: jax.Array) -> tuple[SACState, dict]:
        state, stats = jax.lax.scan(self._update, state, jax.random.split(key, self.config.updates_per_train))
        return state, jax.tree.map(lambda x: x[-1], stats)

    def _no_update(self, state: SACState, key: jax.Array) -> tuple[SACState, dict]:
        nan = jnp.float32(jnp.nan)
        return state, dict(
            critic_loss=nan, actor_loss=nan, alpha=nan, entropy=nan, q=nan, actor_carry_staleness=nan, critic_carry_staleness=nan
        )

    # -- train and evaluate -------------------------------------------------------------------

    def _choose(self, deterministic: bool):
        def choose(policy, key):
            if self.envs.discrete:
                action = jnp.argmax(policy.logits, -1) if deterministic else policy.sample(seed=key)
            else:
                action = jnp.tanh(policy.distribution.mean()) if deterministic else policy.sample(seed=key)
            return self._env_action(remove_time_axis(action))

        return choose

    def _play(self, key, params, num_episodes: int, deterministic: bool):
        actor = nnx.merge(self.actor_graphdef, params["actor"])
        return play_episodes(self.envs, actor, self._choose(deterministic), key, num_episodes)

    def evaluate(self, key: jax.Array, state: SACState, num_episodes: int = 64, deterministic: bool = True) -> dict:
        """Plays ``num_episodes`` episodes in parallel with the actor's mean action (or samples); returns their statistics."""
        return summarize_evaluation(self.name, *self._evaluate(key, state.params, num_episodes, deterministic))
