"""Lazy parameter creation: how modules without input sizes get their parameters.

The guide builds modules without input sizes or rngs (``MLP(features=(64,))``,
``heads.VNetwork()``, ``Mamba(hidden_dim=64)``). Such a module subclasses
:class:`LazyModule` and creates its parameters in ``build(in_features, rngs)``,
which runs once, on the module's first call inside ``Network.init``. That call
opens :func:`initializing`, the only place the rngs come from. A lazy module
called before ``init`` raises :class:`NotInitializedError`.

Once built, a lazy module is an ordinary NNX module: ``nnx.split``,
``nnx.jit`` and ``nnx.grad`` see its ``nnx.Param`` attributes as usual. Building
changes the module's graph, so ``init`` runs eagerly, never under a transform.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import jax
from flax import nnx

_init_rngs: contextvars.ContextVar[nnx.Rngs | None] = contextvars.ContextVar(
    "memorax_init_rngs", default=None
)


class NotInitializedError(RuntimeError):
    """A lazy module was called before ``network.init`` created its parameters."""


@contextlib.contextmanager
def initializing(rngs: nnx.Rngs) -> Iterator[None]:
    """Lets lazy modules called inside the block build their parameters from ``rngs``."""
    token = _init_rngs.set(rngs)
    try:
        yield
    finally:
        _init_rngs.reset(token)


class LazyModule(nnx.Module):
    """A module whose parameters are created from the size of its first input.

    Subclasses implement ``build(in_features, rngs)`` and call
    ``self.build_once(inputs)`` first thing in ``__call__``; ``in_features`` is
    ``inputs.shape[-1]``.
    """

    built: bool = False

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        raise NotImplementedError

    def build_once(self, inputs: jax.Array) -> None:
        if self.built:
            return
        rngs = _init_rngs.get()
        if rngs is None:
            raise NotInitializedError(
                f"{type(self).__name__} has no parameters yet: call "
                "network.init(rngs, observation, done, ...) once before calling the network."
            )
        if isinstance(inputs, jax.core.Tracer):
            raise NotInitializedError(
                f"{type(self).__name__} is being built under a JAX transform; "
                "call network.init(...) eagerly, outside jit/grad/vmap."
            )
        self.build(inputs.shape[-1], rngs)
        self.built = True
