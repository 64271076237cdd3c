"""Acting in ``num_envs`` environments at once: what a network reads at one step, and how a step produces the next."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx, struct
from gymnax.environments import spaces

from memorax.algorithms.common.axes import add_time_axis
from memorax.environments import RecordEpisodeStatistics
from memorax.networks import Network
from memorax.parallel import strong_typed


@struct.dataclass
class StepInputs:
    """A network's inputs at one step of every environment, each ``[num_envs, ...]``.

    ``done`` is True where ``obs`` starts an episode; ``prev_action`` (one-hot
    for discrete actions) and ``prev_reward`` are 0 there.
    """

    obs: jax.Array
    done: jax.Array
    prev_action: jax.Array
    prev_reward: jax.Array


def call_on_step(network: Network, carry: Any, inputs: StepInputs, **head_kwargs) -> tuple[Any, Any]:
    """Calls ``network`` on one step of every environment, as sequences of length 1 (outputs keep the time axis)."""
    step = add_time_axis(inputs)
    return network(step.obs, step.done, carry, step.prev_action, step.prev_reward, **head_kwargs)


def build_on_step(network: Network, inputs: StepInputs, **head_kwargs) -> None:
    """Builds ``network``'s lazy modules for the inputs of one step (see ``Network.init``)."""
    step = add_time_axis(inputs)
    network.init(0, step.obs, step.done, step.prev_action, step.prev_reward, **add_time_axis(head_kwargs))


def step_output(network: Network, inputs: StepInputs, then: Callable[[Any], Any] = lambda output: output, **head_kwargs) -> Any:
    """``then`` of a built ``network``'s output on one step of ``inputs`` from its initial carry, traced abstractly (nothing runs)."""
    graphdef, state = nnx.split(network)
    batch = inputs.done.shape[0]

    def output(state):
        model = nnx.merge(graphdef, state)
        return then(call_on_step(model, model.initialize_carry(batch), inputs, **add_time_axis(head_kwargs))[1])

    return jax.eval_shape(output, state)


_POLICY_METHODS = ("sample", "log_prob", "entropy", "mode")


def _missing_policy_methods(policy: Any) -> list[str]:
    """Which of the methods PPO calls on a policy ``policy`` lacks or cannot compute (distrax raises NotImplementedError)."""
    calls = {
        "sample": lambda: policy.sample(seed=jax.random.key(0)),
        "log_prob": lambda: policy.log_prob(policy.sample(seed=jax.random.key(0))),
        "entropy": lambda: policy.entropy(),
        "mode": lambda: policy.mode(),
    }
    missing = []
    for name in _POLICY_METHODS:
        try:
            calls[name]()
        except (AttributeError, NotImplementedError):
            missing.append(name)
    return missing


def _described(output: Any) -> str:
    """``output`` in an error message: its shape if it is an array, else its type's name."""
    return f"values of shape {list(output.shape)}" if hasattr(output, "shape") else type(output).__name__


def require_policy(algorithm: str, role: str, network: Network, inputs: StepInputs) -> None:
    """Raises a ValueError naming the head unless ``network`` gives a distribution over actions with ``sample``,
    ``log_prob``, ``entropy`` and ``mode`` (the entropy bonus and greedy evaluation need the last two)."""
    found: dict[str, Any] = {}

    def inspect(policy):
        found["described"] = _described(policy)
        found["missing"] = _missing_policy_methods(policy)

    step_output(network, inputs, then=inspect)
    if found["missing"]:
        got = found["described"]
        if len(found["missing"]) < len(_POLICY_METHODS):
            got = f"a distribution ({got}) without {', '.join(found['missing'])}"
        raise ValueError(
            f"{algorithm}: the {role}'s head {type(network.head).__name__} gives {got}; "
            "expected a distribution over actions with sample, log_prob, entropy (the entropy bonus) and mode (greedy "
            "evaluation), as heads.Categorical or heads.Gaussian gives."
        )


def require_values(
    algorithm: str, role: str, network: Network, inputs: StepInputs, per_action: int | None, head: str, **head_kwargs: Any
) -> None:
    """Raises a ValueError naming the head unless ``network`` gives values ``[batch, time]``, or ``[batch, time, per_action]``."""
    values = step_output(network, inputs, **head_kwargs)
    batch = inputs.done.shape[0]
    expected = (batch, 1) if per_action is None else (batch, 1, per_action)
    if getattr(values, "shape", None) != expected:
        axes = "[batch, time]" if per_action is None else "[batch, time, actions]"
        raise ValueError(
            f"{algorithm}: the {role}'s head {type(network.head).__name__} gives {_described(values)} on one step; "
            f"expected values {axes}, {list(expected)}, as {head} gives."
        )


class VectorEnv:
    """An environment with episode statistics, reset and stepped in lockstep under ``vmap``.

    Args:
      env, env_params: a gymnax-style environment with auto-reset.
      algorithm: named in errors.
      action_spaces: the action space types the algorithm accepts.
    """

    def __init__(self, env, env_params, algorithm: str, action_spaces: tuple[type, ...] = (spaces.Discrete, spaces.Box)):
        space = env.action_space(env_params)
        if not isinstance(space, action_spaces):
            expected = " or ".join(kind.__name__ for kind in action_spaces)
            raise ValueError(f"{algorithm}: the action space is {space}; expected {expected}.")
        self.env = RecordEpisodeStatistics(env)
        self.params = env_params
        self.algorithm = algorithm
        self.space = space
        self.discrete = isinstance(space, spaces.Discrete)
        self.action_shape = () if self.discrete else tuple(space.shape)
        self.action_features = space.n if self.discrete else math.prod(space.shape)

    def check_action_dims(self, **networks: Network) -> None:
        """Raises a ValueError when a network's head has an ``action_dim`` other than the action space's.

        A Categorical head with too many logits would otherwise sample actions
        that the environment clips under ``jit``, silently.
        """
        unit = "actions" if self.discrete else "dimensions"
        for role, network in networks.items():
            action_dim = getattr(network.head, "action_dim", None)
            if action_dim is not None and action_dim != self.action_features:
                raise ValueError(
                    f"{self.algorithm}: the {role}'s head {type(network.head).__name__} has action_dim {action_dim}; "
                    f"the action space {self.space} has {self.action_features} {unit}."
                )

    @property
    def max_steps_in_episode(self) -> int:
        return int(self.params.max_steps_in_episode)

    def example_inputs(self) -> StepInputs:
        """Zeros shaped as the inputs of one step of one environment, without resetting anything."""
        _, inputs = jax.eval_shape(lambda key: self.reset(key, 1), jax.random.key(0))
        return jax.tree.map(lambda leaf: jnp.zeros(leaf.shape, leaf.dtype), inputs)

    def encode_action(self, action: jax.Array) -> jax.Array:
        """Actions ``[..., *action_shape]`` as the networks read them: one-hot for discrete actions, flat vectors otherwise.

        A Box action is clipped into the space's bounds first, as the environment
        applies it: a Gaussian policy's samples are unbounded, and fed back
        unclipped they can grow with the policy's spread until training diverges.
        """
        if self.discrete:
            return jax.nn.one_hot(action, self.action_features, dtype=jnp.float32)
        action = jnp.clip(action, self.space.low, self.space.high).astype(jnp.float32)
        return action.reshape(action.shape[: action.ndim - len(self.action_shape)] + (self.action_features,))

    def reset(self, key: jax.Array, num_envs: int) -> tuple[Any, StepInputs]:
        """Resets every environment: ``(env_state, inputs)``, with ``done`` True everywhere.

        The state's leaves are strongly typed: a weakly typed leaf (gymnax's
        Pendulum starts ``last_u`` as a Python float) would change the state's
        types after the first step.
        """
        obs, env_state = jax.vmap(self.env.reset, (0, None))(jax.random.split(key, num_envs), self.params)
        env_state = strong_typed(env_state)
        no_action, no_reward = jnp.zeros((num_envs, self.action_features), jnp.float32), jnp.zeros(num_envs, jnp.float32)
        inputs = StepInputs(obs, jnp.ones(num_envs, bool), no_action, no_reward)
        return env_state, inputs

    def step(self, key: jax.Array, env_state, action: jax.Array):
        """Steps every environment: ``(env_state, next_inputs, reward, terminated, truncated, info)``."""
        keys = jax.random.split(key, action.shape[0])
        obs, env_state, reward, terminated, truncated, info = jax.vmap(self.env.step, (0, 0, 0, None))(
            keys, env_state, action, self.params
        )
        # A weakly typed reward would change the state's types after the first call and recompile train.
        reward = reward.astype(jnp.float32)
        ended = terminated | truncated
        inputs = StepInputs(
            obs=obs,
            done=ended,
            prev_action=jnp.where(ended[:, None], 0.0, self.encode_action(action)),
            prev_reward=jnp.where(ended, 0.0, reward),
        )
        return env_state, inputs, reward, terminated, truncated, info

    def final_inputs(self, action: jax.Array, reward: jax.Array, info: dict) -> StepInputs:
        """The inputs of the observation each episode stopped on, with no reset, to value it with the pre-reset memory.

        Leaves may have any leading axes, e.g. ``[num_envs]`` or ``[batch, time]``.
        """
        final_obs = info["final_observation"]
        return StepInputs(final_obs, jnp.zeros(reward.shape, bool), self.encode_action(action), reward)

