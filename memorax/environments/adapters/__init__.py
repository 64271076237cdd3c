"""Adapters: the environments of other JAX suites, made by ``make("<suite>::<id>")``.

Each suite is a module here with ``make(env_id, **kwargs) -> (env, env_params)`` and
``ids() -> list[str]``; it imports its package only when used, so memorax runs without them
(``pip install 'memorax[envs]'`` installs them).
"""

from __future__ import annotations

import importlib
from typing import Any

from memorax.environments.adapters.adapter import Adapter

# namespace -> the PyPI package that provides it.
SUITES = {
    "popgym_arcade": "popgym-arcade",
    "pobax": "pobax",
    "navix": "navix",
    "xminigrid": "xminigrid",
    "craftax": "craftax",
    "brax": "brax",
}
# popgym-arcade is not in the envs extra: its stable-gymnax requirement installs over gymnax's files (pyproject.toml).
INSTALL = {"popgym_arcade": "pip install --no-deps popgym-arcade==0.0.7"}
INSTALL_EXTRA = "pip install 'memorax[envs]'"


def suite(namespace: str):
    """The adapter module of ``namespace``; a ValueError naming the package to install if it is missing."""
    try:
        return importlib.import_module(f"memorax.environments.adapters.{namespace}")
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith("memorax"):
            raise
        raise ValueError(
            f"make: {namespace}:: environments need the {SUITES[namespace]} package ({error}); "
            f"install it with {INSTALL.get(namespace, INSTALL_EXTRA)}."
        ) from error


def make_adapted(namespace: str, env_id: str, **kwargs: Any):
    """``make`` for the suites above: ``(env, env_params)``, or a ValueError listing the suite's ids."""
    module = suite(namespace)
    if env_id not in module.ids():
        raise ValueError(f"make: unknown {namespace} environment {env_id!r}; valid ids: {', '.join(module.ids())}.")
    return module.make(env_id, **kwargs)


__all__ = ["SUITES", "Adapter", "make_adapted", "suite"]
