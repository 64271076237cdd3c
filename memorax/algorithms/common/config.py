"""Validated config dataclasses: the checks every algorithm uses, and the fields the on-policy and the replay algorithms share."""

from __future__ import annotations

import dataclasses
import numbers
import typing

import jax
import jax.numpy as jnp
import optax


class Config:
    """Checks shared by the algorithms' config dataclasses; errors name the class and the field."""

    def _require_integers(self) -> None:
        """Every field declared ``int`` holds an integer: a float count failed later, inside JAX, naming no field."""
        kinds = typing.get_type_hints(type(self))  # annotations resolved, Annotated (tyro's Suppress) unwrapped
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if kinds[field.name] is int and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
                raise ValueError(f"{type(self).__name__}.{field.name} is {value!r}; expected an integer.")

    def _require_positive(self, *names: str) -> None:
        for name in names:
            if not getattr(self, name) > 0:  # not `<= 0`, which NaN passes
                raise ValueError(f"{type(self).__name__}.{name} is {getattr(self, name)}; expected a positive value.")

    def _require_non_negative(self, *names: str) -> None:
        for name in names:
            if not getattr(self, name) >= 0:
                raise ValueError(f"{type(self).__name__}.{name} is {getattr(self, name)}; expected >= 0.")

    def _require_within(self, name: str, low: float, high: float, low_open: bool = False) -> None:
        value = getattr(self, name)
        if not (low < value <= high if low_open else low <= value <= high):
            interval = f"{'(' if low_open else '['}{low}, {high}]"
            raise ValueError(f"{type(self).__name__}.{name} is {value}; expected a value in {interval}.")


class EpsilonSchedule:
    """ε-greedy exploration whose ε decays linearly from ``epsilon_start`` to
    ``epsilon_finish`` over the first ``epsilon_decay`` of ``total_timesteps``;
    the config that mixes it in declares those four fields."""

    def _check_epsilon(self) -> None:
        for name in ("epsilon_start", "epsilon_finish"):
            self._require_within(name, 0, 1)
        self._require_within("epsilon_decay", 0, 1, low_open=True)

    def epsilon(self, env_steps: jax.Array) -> jax.Array:
        """ε after ``env_steps`` environment steps, in float32: optax's schedule passed its length to jit as an
        int32, which overflowed for a decay of 2³¹ steps or more."""
        decay_steps = float(max(1, int(self.epsilon_decay * self.total_timesteps)))
        remaining = 1 - jnp.clip(jnp.asarray(env_steps, jnp.float32), 0, decay_steps) / decay_steps
        return (self.epsilon_start - self.epsilon_finish) * remaining + self.epsilon_finish


@dataclasses.dataclass(frozen=True)
class OnPolicyConfig(Config):
    """Rollouts of ``num_steps`` in ``num_envs`` environments, then ``num_epochs`` passes of ``num_minibatches``.

    ``total_timesteps`` is the horizon over which the learning rate anneals
    linearly to 0 (when ``anneal_lr``); ``train`` may be called in chunks.
    A wrong value raises a ValueError naming the field. Each algorithm's
    config declares the fields whose defaults differ between algorithms
    (``num_envs``, ``num_steps``, ``num_minibatches``, ``max_grad_norm``), so
    every field has one default, in one class.
    """

    num_epochs: int = 4
    """Passes over each rollout."""
    total_timesteps: int = 1_000_000
    """Environment steps over which the learning rate anneals to 0."""
    gamma: float = 0.99
    """Discount factor."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over the run's steps (total_timesteps; on the command line, --total-steps)."""

    def __post_init__(self):
        self._require_integers()
        self._require_positive("num_envs", "num_steps", "num_epochs", "num_minibatches", "total_timesteps", "max_grad_norm")
        self._require_within("gamma", 0, 1, low_open=True)
        if self.num_envs % self.num_minibatches:
            raise ValueError(
                f"{type(self).__name__}.num_envs ({self.num_envs}) must be divisible by num_minibatches "
                f"({self.num_minibatches}): minibatches split environments and keep whole sequences."
            )

    @property
    def rollout_size(self) -> int:
        return self.num_envs * self.num_steps

    def env_steps(self, updates: jax.Array) -> jax.Array:
        """The environment steps of ``updates`` rollouts, in float32: an int32 count would wrap past 2³¹ steps
        (half an hour at a GPU's millions of steps per second), turning negative and ε back to its start."""
        return jnp.asarray(updates, jnp.float32) * self.rollout_size

    @property
    def split_sizes(self) -> dict[str, int]:
        """The environments and each minibatch's environments, the sizes that split over devices."""
        return {"num_envs": self.num_envs, "num_envs / num_minibatches": self.num_envs // self.num_minibatches}

    def optimizer(self, optimizer: optax.GradientTransformation) -> optax.GradientTransformation:
        """``optimizer`` behind global-norm clipping, with its updates annealed linearly over ``total_timesteps``."""
        steps_per_update = self.num_epochs * self.num_minibatches
        total_updates = max(1, self.total_timesteps // self.rollout_size)

        def anneal(count):
            return optax.linear_schedule(1.0, 0.0, total_updates)(count // steps_per_update)

        return optax.chain(
            optax.clip_by_global_norm(self.max_grad_norm),
            optimizer,
            optax.scale_by_schedule(anneal if self.anneal_lr else lambda count: 1.0),
        )


@dataclasses.dataclass(frozen=True)
class ReplayConfig(Config):
    """Acting one vector step at a time and learning from replayed sequences of steps.

    Each sampled sequence has ``sequence_length`` steps: ``burn_in`` steps
    that only advance the stored carries, then ``trained_steps =
    sequence_length - burn_in - n_step`` trained steps, then the ``n_step``
    steps their targets look ahead to. With MLPs and the defaults (length 2,
    no burn-in, 1-step targets) each sample is one transition and its successor.
    A wrong value raises a ValueError naming the field. Each algorithm's
    config declares ``batch_size`` and ``learning_starts``, whose defaults
    differ between algorithms, so every field has one default, in one class.
    """

    num_envs: int = 8
    """Environments stepped in parallel; one vector step is num_envs environment steps."""
    buffer_size: int = 100_000
    """Steps the replay holds, over all environments."""
    sequence_length: int = 2
    """Steps per sampled sequence."""
    burn_in: int = 0
    """Leading steps of each sequence that only advance the stored carries."""
    stride: int = 1
    """Steps between the starts of consecutive sequences of one environment; above the trained steps per sequence,
    the steps between one sequence's trained steps and the next one's are only burn-in and targets, never trained."""
    train_every: int = 1
    """Vector steps between trainings."""
    gamma: float = 0.99
    """Discount factor."""
    n_step: int = 1
    """Steps of reward in each target before it bootstraps."""
    max_grad_norm: float = 10.0
    """Gradients are clipped to this global norm."""

    def __post_init__(self):
        name = type(self).__name__
        self._require_integers()
        self._require_positive(
            "num_envs", "buffer_size", "batch_size", "sequence_length", "stride", "train_every", "n_step", "max_grad_norm"
        )
        self._require_non_negative("burn_in", "learning_starts")
        self._require_within("gamma", 0, 1, low_open=True)
        if self.trained_steps < 1:
            raise ValueError(
                f"{name}.sequence_length ({self.sequence_length}) must exceed burn_in ({self.burn_in}) + n_step "
                f"({self.n_step}): each sequence needs at least one trained step."
            )
        if self.stride > self.sequence_length:
            raise ValueError(
                f"{name}.stride ({self.stride}) must not exceed sequence_length ({self.sequence_length}): the steps "
                "between one sequence's end and the next one's start would never be sampled."
            )
        steps_per_env = self.buffer_size // self.num_envs // self.stride * self.stride
        if steps_per_env < self.sequence_length + self.stride - 1:
            raise ValueError(
                f"{name}.buffer_size ({self.buffer_size}) holds {steps_per_env} steps per environment (whole strides "
                f"over num_envs {self.num_envs}); expected at least sequence_length + stride - 1 "
                f"({self.sequence_length + self.stride - 1}), so that the replay always holds a whole sequence."
            )
        if self.learning_starts < self.num_envs * self.sequence_length:
            raise ValueError(
                f"{name}.learning_starts ({self.learning_starts}) must be at least num_envs * sequence_length "
                f"({self.num_envs * self.sequence_length}): the replay must hold a sequence before the first update."
            )

    @property
    def rollout_size(self) -> int:
        """Environment steps per vector step, the unit ``train`` counts in."""
        return self.num_envs

    @property
    def split_sizes(self) -> dict[str, int]:
        """The environments (and the replay's streams) and the sampled sequences, the sizes that split over devices."""
        return {"num_envs": self.num_envs, "batch_size": self.batch_size}

    @property
    def trained_steps(self) -> int:
        return self.sequence_length - self.burn_in - self.n_step
