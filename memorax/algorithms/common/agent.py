"""What every algorithm shares: networks built once from the environment's shapes, a pure ``init``, and ``train`` as one jitted scan."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from flax import nnx

from memorax.algorithms.common.episodes import summarize_evaluation
from memorax.networks import redraw


class Agent:
    """The scaffolding of an algorithm; a subclass supplies its state and its pure functions.

    A subclass builds its networks (``build_on_step`` on example inputs) and
    calls :meth:`_set_model` in its constructor, so the module graph is fixed
    before ``init``: ``init(key)`` then only draws parameters, and is a pure
    function of the key (``jax.jit(agent.init)`` and ``jax.vmap(agent.init)``
    work). It implements ``_iteration(state, key) -> (state, metrics)`` (one
    rollout and its update, or one vector step), ``_place(state)`` and
    ``_play(key, params, num_episodes, policy_option)``, and names the
    ``policy_option`` (``evaluate``'s argument after ``num_episodes``) of greedy
    evaluation in ``greedy`` and of the policy as it acts at the end of training
    in ``sampled``.

    Seeds in one program: ``jax.vmap(agent.init)(keys)`` gives S states with a
    leading seed axis, ``jax.vmap(partial(agent.train, total_steps=n))(keys,
    states)`` trains them in one compiled program, and
    :meth:`evaluate_seeds` evaluates them; seed ``i`` equals an agent trained
    alone from ``keys[i]``, up to float rounding. On a mesh with several rows of
    ``seeds`` devices, :meth:`vmap_seeds` and :meth:`init_seeds` split the seeds
    over the rows (plain ``jax.vmap`` keeps them all on every row).
    """

    name: str
    greedy: bool | float
    sampled: bool | float

    def _set_model(self, model: nnx.Module) -> None:
        """Fixes the graph of the built ``model``; its parameter values are only a template."""
        self.graphdef, self._template = nnx.split(model)
        self._train = jax.jit(self._iterations, static_argnums=2)
        self._play_compiled = jax.jit(self._play, static_argnums=(2, 3))
        self._init_seeds = jax.jit(lambda keys: self.vmap_seeds(self._place)(self.vmap_seeds(self.init)(keys)))
        self._evaluate_seeds = jax.jit(
            lambda keys, params, episodes, option: self.vmap_seeds(lambda key, p: self._play(key, p, episodes, option))(keys, params),
            static_argnums=(2, 3),
        )

    def _check_evaluation(self, num_episodes: int, policy_option: bool | float) -> None:
        """Raises a ValueError naming the argument: a bad one failed inside the trace, or played another policy."""
        if isinstance(num_episodes, bool) or not isinstance(num_episodes, numbers.Integral) or num_episodes < 1:
            raise ValueError(f"{self.name}.evaluate: num_episodes is {num_episodes!r}; expected a positive integer.")
        if isinstance(self.greedy, bool):  # PPO's and SAC's: deterministic, the policy's mode, or sampled
            if not isinstance(policy_option, (bool, np.bool_)):
                raise ValueError(f"{self.name}.evaluate: deterministic is {policy_option!r}; expected True or False.")
        elif isinstance(policy_option, (bool, np.bool_)) or not 0 <= policy_option <= 1:  # ε of an ε-greedy policy
            raise ValueError(f"{self.name}.evaluate: epsilon is {policy_option!r}; expected a value in [0, 1].")

    def _evaluate(self, key: jax.Array, params: nnx.State, num_episodes: int, policy_option: bool | float) -> tuple:
        """``_play`` compiled, its arguments checked first."""
        self._check_evaluation(num_episodes, policy_option)
        return self._play_compiled(key, params, num_episodes, policy_option)

    def init_seeds(self, keys: jax.Array) -> Any:
        """``jax.vmap(init)(keys)`` compiled, each leaf placed as ``train`` places it, so that ``train`` compiles once.

        A leaf ``init`` makes without the key (a zero carry, a counter) leaves
        ``vmap`` whole, as on every row of the mesh; it is placed again here.
        """
        return self._init_seeds(keys)

    def vmap_seeds(self, function: Callable) -> Callable:
        """``jax.vmap(function)`` over seeds, split along the mesh's ``seeds`` axis where it has several devices."""
        return jax.vmap(function, spmd_axis_name=self.parallel.seeds_axis)

    def _draw_model(self, key: jax.Array) -> nnx.Module:
        """A copy of the model with every parameter drawn from ``key``; traceable."""
        return nnx.merge(self.graphdef, redraw(self.graphdef, self._template, key))

    def model(self, params: nnx.State) -> nnx.Module:
        """The agent's networks with ``params`` (a state's ``params``); traceable.

        PPO's is an :class:`~memorax.algorithms.ppo.ActorCritic` (``.actor``,
        ``.critic``), PQN's and DQN's the Q-network, SAC's an ``nnx.List`` of the actor and its two critics.
        """
        return nnx.merge(self.graphdef, params)

    def _iterations(self, key: jax.Array, state: Any, num_iterations: int) -> tuple[Any, dict]:
        return jax.lax.scan(self._iteration, self._place(state), jax.random.split(key, num_iterations))

    def train(self, key: jax.Array, state: Any, total_steps: int) -> tuple[Any, dict]:
        """Trains for ``total_steps`` environment steps in one jitted scan.

        The scan has ``total_steps // config.rollout_size`` iterations (at least
        one): rollouts of ``num_envs * num_steps`` steps for on-policy
        algorithms, vector steps of ``num_envs`` steps for replay ones.
        ``metrics`` holds one entry per iteration.
        """
        if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps < 1:
            raise ValueError(f"{self.name}.train: total_steps is {total_steps!r}; expected a positive integer (environment steps).")
        return self._train(key, state, max(1, total_steps // self.config.rollout_size))

    def policy_option(self, greedy: bool) -> bool | float:
        """``evaluate``'s policy argument for greedy play, or for the ``sampled`` policy where ``greedy`` is false."""
        return self.greedy if greedy else self.sampled

    def evaluate_seeds(self, keys: jax.Array, states: Any, num_episodes: int = 64, greedy: bool = True) -> list[dict]:
        """``evaluate`` of S agents in one compiled program: ``keys`` ``[S]``, ``states`` with a leading seed axis.

        Greedy, or with the ``sampled`` policy where ``greedy`` is false.
        Returns one summary per seed, as ``evaluate`` gives it.
        """
        self._check_evaluation(num_episodes, self.policy_option(greedy))
        played = self._evaluate_seeds(keys, states.params, num_episodes, self.policy_option(greedy))
        return [summarize_evaluation(self.name, *(leaf[i] for leaf in played)) for i in range(len(keys))]
