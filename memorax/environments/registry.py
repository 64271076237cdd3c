"""make("namespace::Id"): the one way to build an environment by name."""

from __future__ import annotations

import numbers
import typing
from typing import Any

import gymnax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from memorax.environments.adapters import SUITES, make_adapted
from memorax.environments.popgym import ALIASES, LEVELS, TASKS
from memorax.environments.tmaze import TMaze
from memorax.environments.wrappers import Wrapper

NAMESPACES = ("gymnax", "memorax", *SUITES)


class _MemoryChainSpace(Wrapper):
    """gymnax 1.0.1 declares MemoryChain's observations in ``[0, 2 num_bits]``, but shows context bits as +-1."""

    def observation_space(self, params=None):
        return spaces.Box(-1.0, 1.0, (self.env.num_bits + 2,), jnp.float32)


_GYMNAX_FIXES = {"MemoryChain-bsuite": _MemoryChainSpace}


def memorax_ids() -> list[str]:
    """Every id of the built-in suite."""
    return [f"{task}-{level}" for task, levels in LEVELS.items() for level in levels] + ["TMaze"]


def builtin_task(env_id: str) -> str | None:
    """The built-in task that ``env_id`` names, POPGym's aliases resolved; None outside the ``memorax`` namespace.

    E.g. ``StatelessCartPole`` for ``memorax::PositionOnlyCartPole-Easy``.
    """
    namespace, _, name = env_id.partition("::")
    return _task_and_level(name)[0] if namespace == "memorax" else None


def _task_and_level(name: str) -> tuple[str, str]:
    task, _, level = name.partition("-")
    return ALIASES.get(task, task), level


def _is_a(value: Any, kind: Any) -> bool:
    """Whether ``value`` is of the annotated ``kind``: a bool is no number, an int is a float, tuples hold their items' kind,
    and NumPy's and JAX's scalars and vectors count as the Python values they hold."""
    if hasattr(value, "dtype") and np.ndim(value) <= 1:
        value = np.asarray(value).tolist()
    if kind is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if typing.get_origin(kind) is tuple:
        return isinstance(value, (tuple, list)) and all(_is_a(item, typing.get_args(kind)[0]) for item in value)
    return not isinstance(kind, type) or isinstance(value, kind)


def _described(kind: Any) -> str:
    """``int`` as "an integer", ``tuple[int, ...]`` as "a tuple of integers", ..."""
    if typing.get_origin(kind) is tuple:
        return "a tuple of " + {int: "integers", float: "numbers", str: "strings"}.get(typing.get_args(kind)[0], "values")
    return {int: "an integer", float: "a number", str: "a string"}.get(kind, str(kind))


def _check_arguments(env_id: str, constructor: type, kwargs: dict[str, Any]) -> None:
    """Raises a ValueError naming an argument of another type than the constructor declares.

    A float where an int belongs (``corridor_length=2.5``) built the
    environment, and failed only when ``train`` traced its step.
    """
    kinds = typing.get_type_hints(constructor.__init__)
    for name, value in kwargs.items():
        if name in kinds and not _is_a(value, kinds[name]):
            raise ValueError(f"make: memorax::{env_id}'s {name} is {value!r}; expected {_described(kinds[name])}.")


def _make_memorax(env_id: str, **kwargs: Any):
    if env_id == "TMaze":
        _check_arguments(env_id, TMaze, kwargs)
        return TMaze(**kwargs)
    task, level = _task_and_level(env_id)
    if task not in LEVELS:
        raise ValueError(f"make: unknown memorax environment {env_id!r}; valid ids: {', '.join(memorax_ids())}.")
    if level not in LEVELS[task]:
        valid = ", ".join(f"{task}-{name}" for name in LEVELS[task])
        raise ValueError(f"make: {task} has no difficulty {level!r}; valid ids: {valid}.")
    _check_arguments(env_id, TASKS[task], kwargs)
    return TASKS[task](**{**LEVELS[task][level], **kwargs})


def make(env_id: str, **kwargs: Any):
    """Builds an environment and its default parameters from ``"namespace::Id"``.

    ``gymnax::Id`` builds any environment registered in the installed gymnax
    (e.g. ``gymnax::CartPole-v1``, ``gymnax::MemoryChain-bsuite``);
    ``memorax::Id`` the built-in memory suite (e.g. ``memorax::RepeatPrevious-Easy``,
    ``memorax::TMaze``); POPGym's names ``PositionOnlyCartPole`` and
    ``NoisyPositionOnlyCartPole`` name ``StatelessCartPole`` and
    ``NoisyStatelessCartPole``. The other namespaces (``popgym_arcade``, ``pobax``, ``navix``,
    ``xminigrid``, ``craftax``, ``brax``) adapt those packages' environments
    (:mod:`memorax.environments.adapters`). ``kwargs`` go to the environment's constructor; arguments it
    rejects (a TypeError there) are a ValueError naming them.

    Returns:
      ``(env, env_params)``.
    """
    namespace, separator, name = env_id.partition("::")
    if not separator or namespace not in NAMESPACES:
        raise ValueError(
            f"make: {env_id!r} has no known namespace; expected 'namespace::Id' with namespace in {list(NAMESPACES)}."
        )
    try:
        return _make_in(namespace, name, **kwargs)
    except TypeError as error:
        if not kwargs:
            raise
        raise ValueError(f"make: {env_id} rejected the arguments {sorted(kwargs)}: {error}.") from error


def _make_in(namespace: str, name: str, **kwargs: Any):
    if namespace in SUITES:
        return make_adapted(namespace, name, **kwargs)
    if namespace == "gymnax":
        if name not in gymnax.registered_envs:
            raise ValueError(f"make: unknown gymnax environment {name!r}; valid ids: {', '.join(gymnax.registered_envs)}.")
        env, params = gymnax.make(name, **kwargs)
        return _GYMNAX_FIXES.get(name, lambda env: env)(env), params
    env = _make_memorax(name, **kwargs)
    return env, env.default_params
