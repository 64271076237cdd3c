"""Validated config dataclasses: the checks every algorithm uses, and the fields every on-policy algorithm shares."""

from __future__ import annotations

import dataclasses

import optax


class Config:
    """Checks shared by the algorithms' config dataclasses; errors name the class and the field."""

    def _require_positive(self, *names: str) -> None:
        for name in names:
            if getattr(self, name) <= 0:
                raise ValueError(f"{type(self).__name__}.{name} is {getattr(self, name)}; expected a positive value.")

    def _require_non_negative(self, *names: str) -> None:
        for name in names:
            if getattr(self, name) < 0:
                raise ValueError(f"{type(self).__name__}.{name} is {getattr(self, name)}; expected >= 0.")

    def _require_within(self, name: str, low: float, high: float, low_open: bool = False) -> None:
        value = getattr(self, name)
        if not (low < value <= high if low_open else low <= value <= high):
            interval = f"{'(' if low_open else '['}{low}, {high}]"
            raise ValueError(f"{type(self).__name__}.{name} is {value}; expected a value in {interval}.")


@dataclasses.dataclass(frozen=True)
class OnPolicyConfig(Config):
    """Rollouts of ``num_steps`` in ``num_envs`` environments, then ``num_epochs`` passes of ``num_minibatches``.

    ``total_timesteps`` is the horizon over which the learning rate anneals
    linearly to 0 (when ``anneal_lr``); ``train`` may be called in chunks.
    A wrong value raises a ValueError naming the field.
    """

    num_envs: int = 16
    """Environments stepped in parallel."""
    num_steps: int = 128
    """Steps per environment in each rollout."""
    num_epochs: int = 4
    """Passes over each rollout."""
    num_minibatches: int = 4
    """Minibatches per pass; they split environments, so num_envs must be divisible by it."""
    total_timesteps: int = 1_000_000
    """Environment steps over which the learning rate anneals to 0."""
    gamma: float = 0.99
    """Discount factor."""
    max_grad_norm: float = 0.5
    """Gradients are clipped to this global norm."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over total_timesteps."""

    def __post_init__(self):
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
