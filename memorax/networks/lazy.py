"""Lazy parameters: modules built from the width of their first input, and every parameter drawn from a key.

The guide builds modules without input sizes or rngs (``MLP(features=(64,))``,
``heads.VNetwork()``, ``Mamba(hidden_dim=64)``). Every such module subclasses
:class:`LazyModule` and creates all its parameters in ``build(in_features,
rngs)``. That gives two separate steps:

- **Building** fixes the module graph. :func:`~memorax.networks.init` traces the module once
  on example inputs, abstractly, and each lazy module records
  ``in_features``, the width of its input. Every later call checks the
  width, so a wrong input raises a ValueError naming the module before
  anything is traced.
- **Drawing** creates the parameter values. :func:`~memorax.networks.reinitialize` calls
  ``build(in_features, rngs)`` again on every lazy module, in the graph's
  order, each shared module once. It is a pure function of the rngs' key, so
  :func:`~memorax.networks.redraw` runs under ``jax.jit`` and ``jax.vmap``: many seeds are one
  call.

A lazy module called before it is built raises :class:`NotInitializedError`.
Once built it is an ordinary NNX module: ``nnx.split``, ``nnx.jit`` and
``nnx.grad`` see its ``nnx.Param`` attributes as usual.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

_build_rngs: contextvars.ContextVar[nnx.Rngs | None] = contextvars.ContextVar("memorax_build_rngs", default=None)


class NotInitializedError(RuntimeError):
    """A lazy module was called before ``init`` built it."""


class LazyModule(nnx.Module):
    """A module whose parameters are created from the width of its first input.

    Subclasses create every parameter in ``build(in_features, rngs)``, and
    nothing there but parameters and NNX layers (no lazy modules: those are
    built by their own first call), and call ``self.build_once(inputs)`` first
    thing in ``__call__``. ``in_features`` is ``inputs.shape[-1]``; it is None
    until the module is built.
    """

    in_features: int | None = None

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        raise NotImplementedError

    def build_once(self, inputs: jax.Array) -> None:
        """Builds the module on its first call inside :func:`init`; afterwards checks the input's width."""
        width = inputs.shape[-1]
        if self.in_features is not None:
            if width != self.in_features:
                raise ValueError(
                    f"{type(self).__name__}: it was built for inputs of width {self.in_features}; got inputs of "
                    f"shape {tuple(inputs.shape)} (width {width})."
                )
            return
        rngs = _build_rngs.get()
        if rngs is None:
            raise NotInitializedError(
                f"{type(self).__name__} has no parameters yet: call network.init(rngs, observation, done, ...) "
                "(or memorax.networks.init(module, rngs, *example_inputs)) once before calling it."
            )
        self.build(width, rngs)
        self.in_features = width


def _as_rngs(rngs: nnx.Rngs | int | jax.Array) -> nnx.Rngs:
    return rngs if isinstance(rngs, nnx.Rngs) else nnx.Rngs(rngs)


def lazy_modules(tree: Any) -> list[LazyModule]:
    """The lazy modules of a module (or a pytree of modules), in the graph's order, each shared module once."""
    return [node for _, node in nnx.iter_graph(tree) if isinstance(node, LazyModule)]


def reinitialize(tree: Any, rngs: nnx.Rngs | int | jax.Array) -> None:
    """Draws every parameter of the lazy modules in ``tree`` afresh from ``rngs``, in place.

    ``tree`` is a module or a pytree of modules (e.g. an actor and a critic
    that share a torso, whose parameters are drawn once). The draws follow
    the graph's order, so equal keys give equal parameters. An ``nnx.Param``
    outside every lazy module (a layer built eagerly with its own rngs) raises
    a ValueError naming it: it could not be drawn again, and every key would
    give it the same values. Traceable when
    ``tree`` was created inside the trace (see :func:`redraw`).
    """
    rngs = _as_rngs(rngs)
    modules = lazy_modules(tree)
    unbuilt = [type(module).__name__ for module in modules if module.in_features is None]
    if unbuilt:
        raise NotInitializedError(
            f"{', '.join(unbuilt)} not built: the example inputs given to init never reached them."
        )
    eager = _eager_parameters(tree, modules)
    if eager:
        raise ValueError(
            f"{', '.join(eager)}: parameters built eagerly, outside every lazy module, so init cannot draw them "
            "again: every key (every seed, each twin critic) would start from the same values. Build them in a "
            "LazyModule's build(in_features, rngs) (docs/networks.md, 'Your own sequence model'), or wrap an NNX "
            "recurrent cell in RNN(cell)."
        )
    for module in modules:
        module.build(module.in_features, rngs)


def _eager_parameters(tree: Any, modules: list[LazyModule]) -> list[str]:
    """The paths in ``tree`` of the ``nnx.Param``s that no lazy module of ``modules`` holds."""
    drawn = {id(node) for module in modules for _, node in nnx.iter_graph(module) if isinstance(node, nnx.Param)}
    return [
        ".".join(map(str, path))
        for path, node in nnx.iter_graph(tree)
        if isinstance(node, nnx.Param) and id(node) not in drawn
    ]


def init(module: nnx.Module, rngs: nnx.Rngs | int | jax.Array, *example_inputs: Any, **example_kwargs: Any) -> None:
    """Builds ``module``'s lazy modules from example inputs, then draws every parameter from ``rngs``.

    If any lazy module is not yet built, ``module(*example_inputs,
    **example_kwargs)`` is traced once, abstractly (``jax.eval_shape`` on a
    copy: nothing is computed or compiled), to learn the width each lazy
    module reads; only the inputs' shapes and dtypes matter. Calling ``init``
    again with other rngs draws every parameter again (shared modules stay
    shared); with the same rngs it gives the same parameters.

    Args:
      module: e.g. ``MLP(features=(64,))``, ``Mamba(hidden_dim=64)`` or a ``Network``.
      rngs: an ``nnx.Rngs``, an integer seed or a key.
      example_inputs, example_kwargs: what ``module`` is called with, e.g.
        ``(inputs [B, T, F], done [B, T], carry)`` for a sequence model.
    """
    modules = lazy_modules(module)
    if any(lazy.in_features is None for lazy in modules):
        for lazy, width in zip(modules, _input_widths(module, example_inputs, example_kwargs), strict=True):
            lazy.in_features = width
    reinitialize(module, rngs)


def _input_widths(module: nnx.Module, example_inputs: tuple, example_kwargs: dict) -> list[int | None]:
    """The input width of each of ``module``'s lazy modules (as :func:`lazy_modules` orders them) on the example inputs."""
    graphdef, state = nnx.split(module)
    widths = []

    def call(state, example_inputs, example_kwargs):
        copy = nnx.merge(graphdef, state)
        with _building(nnx.Rngs(0)):
            copy(*example_inputs, **example_kwargs)
        widths.extend(lazy.in_features for lazy in lazy_modules(copy))

    jax.eval_shape(call, state, example_inputs, example_kwargs)
    return widths


def redraw(graphdef: nnx.GraphDef, state: nnx.State, key: jax.Array) -> nnx.State:
    """The state of the built module ``nnx.merge(graphdef, state)`` with every lazy parameter drawn from ``key``.

    Pure: the same key gives the same state, and ``jax.vmap`` over keys draws
    one independent set of parameters per key, each equal to its key's draw
    alone. Under ``jax.vmap`` the keys are drawn one after another
    (``jax.lax.map``), not as one batch: batched, orthogonal initialisers
    become batched LAPACK QR factorisations, and jaxlib 0.10's CPU kernel for
    those schedules its parts on XLA's thread pool and waits for them from a
    thread of that pool, which can deadlock the program (every thread idle,
    0% CPU, forever). Drawing is a negligible part of a run, so nothing is lost.
    """

    @jax.custom_batching.custom_vmap
    def draw(state: nnx.State, key: jax.Array) -> nnx.State:
        module = nnx.merge(graphdef, state)
        reinitialize(module, nnx.Rngs(key))
        return nnx.state(module)

    @draw.def_vmap
    def draw_each(axis_size: int, in_batched: list, state: nnx.State, key: jax.Array) -> tuple[nnx.State, Any]:
        def stacked(leaf: jax.Array, batched: bool) -> jax.Array:
            return leaf if batched else jnp.broadcast_to(leaf, (axis_size, *leaf.shape))

        state, key = jax.tree.map(stacked, (state, key), tuple(in_batched))
        states = jax.lax.map(lambda args: draw(*args), (state, key))
        return states, jax.tree.map(lambda _: True, states)

    return draw(state, key)


@contextlib.contextmanager
def _building(rngs: nnx.Rngs) -> Iterator[None]:
    token = _build_rngs.set(rngs)
    try:
        yield
    finally:
        _build_rngs.reset(token)
