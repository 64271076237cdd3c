"""A run's seeds: the agent's ``init``, ``train`` and evaluation over several seeds at once, in one compiled program."""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from memorax.algorithms.common.agent import Agent


class Seeds:
    """The seeds ``first, ..., first + count - 1`` of a run, trained together.

    Seed ``s`` splits ``jax.random.key(s)`` into its init, train and
    evaluation keys, as a run with ``--seed s`` alone does, and interval
    ``i`` trains with ``fold_in(train_key, i)``. One seed runs the agent's own
    functions; several run them under ``jax.vmap`` (states and metrics get a
    leading seed axis), so seed ``s`` of a batch equals the run of ``s``
    alone, up to float rounding. On a mesh with several rows of ``seeds``
    devices (:func:`~memorax.parallel.data_mesh`), each row trains its share
    of the seeds.

    Args:
      agent: the agent.
      first: the first seed.
      count: how many seeds.
      interval_steps: environment steps each seed trains per :meth:`train`.
    """

    def __init__(self, agent: Agent, first: int, count: int, interval_steps: int):
        if count < 1:
            raise ValueError(f"seeds is {count}; expected at least one seed.")
        rows = agent.parallel.seed_devices
        if count % rows:
            raise ValueError(f"seeds is {count}; expected a multiple of the {rows} seed devices of the agent's mesh.")
        if rows > 1 and jax.process_count() > 1:  # the host that logs reads every seed's metrics and parameters
            raise ValueError(
                f"seed devices are {rows} on {jax.process_count()} processes; seeds split over devices on one host only."
            )
        self.agent = agent
        self.values = list(range(first, first + count))
        keys = jnp.stack([jax.random.split(jax.random.key(seed), 3) for seed in self.values])
        self.init_keys, self.train_keys, self.eval_keys = agent.parallel.split_seeds((keys[:, 0], keys[:, 1], keys[:, 2]))
        self.interval_steps = interval_steps
        self._train_seeds = jax.jit(agent.vmap_seeds(partial(agent.train, total_steps=interval_steps)))

    @property
    def batched(self) -> bool:
        """Whether states and metrics carry a leading seed axis."""
        return len(self.values) > 1

    def init(self) -> Any:
        if self.batched:
            return self.agent.init_seeds(self.init_keys)
        return self.agent.init(self.init_keys[0])

    def train(self, interval: int, state: Any) -> tuple[Any, dict]:
        """Interval ``interval``: ``interval_steps`` environment steps for every seed."""
        keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(self.train_keys, interval)
        if self.batched:
            return self._train_seeds(keys, state)
        return self.agent.train(keys[0], state, self.interval_steps)

    def evaluate(self, state: Any, num_episodes: int, keys: jax.Array | None = None, greedy: bool = True) -> list[dict]:
        """Each seed's evaluation over ``num_episodes`` episodes, with ``keys[s]`` (by default its evaluation key).

        Greedy, or where ``greedy`` is false with the agent's ``sampled`` policy
        (PPO's and SAC's stochastic policy, DQN's and PQN's ε-greedy at ``epsilon_finish``).
        """
        keys = self.eval_keys if keys is None else keys
        if self.batched:
            return self.agent.evaluate_seeds(keys, state, num_episodes, greedy)
        return [self.agent.evaluate(keys[0], state, num_episodes, self.agent.policy_option(greedy))]

    def per_seed(self, tree: Any) -> list[Any]:
        """A batched pytree (states, metrics) as one pytree per seed."""
        if not self.batched:
            return [tree]
        return [jax.tree.map(lambda leaf: leaf[i], tree) for i in range(len(self.values))]
