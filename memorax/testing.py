"""The sequence-model contract as a check: run it on your own model before training with it.

``check_sequence_model(model)`` builds the model on random inputs and asserts
what every memorax torso guarantees (docs/architecture.md):

- **parallel = step by step**: a whole sequence in one call equals the same
  steps fed one at a time, carrying the memory;
- **calls in chunks = one call**: cutting a sequence at random points and
  passing the carry on changes nothing;
- **a reset is a fresh start**: after ``done[b, t]`` the outputs of sequence
  ``b`` equal those of a call that starts at ``t`` from ``initialize_carry``
  (with no reset flag of its own), and the other sequences of the batch are
  unaffected;
- **the carry keeps its form**: the returned carry has ``initialize_carry``'s
  structure, and each leaf its shape and dtype, batch first;
- **the memory is used**: without a reset, another carry changes the outputs;
- **gradients reach every parameter**, finite;
- **jit = eager**, and outputs are ``[batch, time, hidden]``;
- **long sequences stay finite and exact**: no NaN or inf over ``long_time``
  steps, the first sequence one episode throughout, the others reset now and
  then; and the one long call equals calls of ``time`` steps passing the carry
  on, so a parallel path that loses the memory after some chunks shows;
- **the carry is well formed**: ``initialize_carry`` gives arrays, batch first,
  not weakly typed (a weakly typed carry comes back strongly typed, and jit
  then traces the step twice).

A failure raises ``AssertionError`` naming the property. The built-in models
pass it (tests/test_sequence_models.py runs it on each).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from memorax.networks.lazy import init, lazy_modules
from memorax.networks.sequence_models.sequence_model import Carry

__all__ = ["check_sequence_model", "random_carry"]


def random_carry(model: Any, batch_size: int, key: jax.Array) -> Carry:
    """A carry shaped as ``model.initialize_carry(batch_size)``, as after an earlier call: flags are coin flips,
    counters in ``[0, 8)``, complex leaves normal, real ones ``|normal|`` (some memories, as linear attention's
    normaliser, are non-negative)."""
    leaves, tree = jax.tree.flatten(model.initialize_carry(batch_size))
    keys = jax.random.split(key, max(len(leaves), 1))

    def leaf(key: jax.Array, like: jax.Array) -> jax.Array:
        if like.dtype == bool:
            return jax.random.bernoulli(key, 0.5, like.shape)
        if jnp.issubdtype(like.dtype, jnp.integer):
            return jax.random.randint(key, like.shape, 0, 8, like.dtype)
        noise = jax.random.normal(key, like.shape, like.dtype)
        return noise if jnp.iscomplexobj(noise) else jnp.abs(noise)

    return jax.tree.unflatten(tree, [leaf(k, x) for k, x in zip(keys, leaves)])


def check_sequence_model(
    model: nnx.Module,
    *,
    features: int = 8,
    batch_size: int = 3,
    time: int = 40,
    seed: int = 0,
    rtol: float = 2e-4,
    atol: float = 2e-5,
    long_time: int = 4096,
) -> None:
    """Asserts the sequence-model contract for ``model`` (a ``SequenceModel``: ``carry, outputs = model(inputs, done, carry)``).

    Lazy modules are built on inputs ``[batch_size, time, features]`` and
    their parameters drawn from ``seed``. Outputs are compared with ``rtol`` and
    ``atol``; the error message gives the size of the mismatch. A model that
    works in chunks of steps must be given a ``time`` over twice its chunk
    size for the checks to cross from one chunk to the next: the default 40
    spans three chunks of the built-in models' 16 and two of LinearAttention's 32.
    With three sequences or more, the second resets at every multiple of 8 steps,
    so that a reset on a chunk's first step is checked too.

    Raises:
      AssertionError: naming the property that does not hold.
    """
    keys = jax.random.split(jax.random.key(seed), 6)
    inputs = jax.random.normal(keys[0], (batch_size, time, features))
    done = jax.random.bernoulli(keys[1], 0.2, (batch_size, time)).at[0, time // 2].set(True).at[-1].set(False)
    if batch_size > 2:  # resets at every multiple of 8 (each chunk's first step, for chunks of 8, 16 or 32), whatever the draw
        done = done.at[1, ::8].set(True)
    initial = model.initialize_carry(batch_size)
    for path, leaf in jax.tree_util.tree_leaves_with_path(initial):
        name = jax.tree_util.keystr(path) or "(the carry)"
        if not isinstance(leaf, (jax.Array, np.ndarray)) or leaf.shape[:1] != (batch_size,):
            got = f"shape {list(leaf.shape)}" if hasattr(leaf, "shape") else f"a {type(leaf).__name__}"
            raise AssertionError(
                f"{type(model).__name__}: initialize_carry({batch_size})'s leaf {name} is {got}; "
                f"expected an array [{batch_size}, ...], batch first."
            )
        if getattr(leaf, "weak_type", False):
            raise AssertionError(
                f"{type(model).__name__}: initialize_carry({batch_size})'s leaf {name} is weakly typed (as jnp.full(shape, 0.0) "
                "makes it): a call returns it strongly typed, and jit traces the step again; give its dtype."
            )
    if any(lazy.in_features is None for lazy in lazy_modules(model)):
        init(model, seed, inputs, done, initial)
    call = nnx.jit(lambda model, inputs, done, carry: model(inputs, done, carry))
    carry = random_carry(model, batch_size, keys[2])

    def close(property_: str, actual: Any, expected: Any) -> None:
        try:
            jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol), actual, expected)
        except AssertionError as error:
            raise AssertionError(f"{type(model).__name__}: {property_} does not hold.\n{error}") from None

    final, outputs = call(model, inputs, done, carry)
    if outputs.ndim != 3 or outputs.shape[:2] != (batch_size, time):
        raise AssertionError(f"{type(model).__name__}: outputs have shape {outputs.shape}; expected [{batch_size}, {time}, hidden].")
    if jax.tree.structure(final) != jax.tree.structure(carry):
        raise AssertionError(f"{type(model).__name__}: the returned carry's structure differs from initialize_carry's.")
    for (path, returned), start in zip(jax.tree_util.tree_leaves_with_path(final), jax.tree.leaves(initial)):
        got, expected = (returned.shape, returned.dtype), (start.shape, start.dtype)
        if got != expected:
            leaf = jax.tree_util.keystr(path) or "(the carry)"
            raise AssertionError(
                f"{type(model).__name__}: the returned carry's leaf {leaf} has shape and dtype {got}; "
                f"expected {expected} as initialize_carry({batch_size}) gives."
            )
    close("jit = eager", (final, outputs), model(inputs, done, carry))

    stepped, step_outputs = carry, []
    for t in range(time):
        stepped, y = call(model, inputs[:, t : t + 1], done[:, t : t + 1], stepped)
        step_outputs.append(y)
    close("parallel = step by step", (final, outputs), (stepped, jnp.concatenate(step_outputs, axis=1)))

    split = time // 2 + 1

    # Chunks of 1 and of time - split steps in turn: lengths that the step-by-step and reset checks compile anyway.
    cuts = sorted({int(cut) for cut in np.cumsum([1, time - split] * time) if cut < time})
    chunked, chunk_outputs = carry, []
    for start, stop in zip([0, *cuts], [*cuts, time]):
        chunked, y = call(model, inputs[:, start:stop], done[:, start:stop], chunked)
        chunk_outputs.append(y)
    close(f"calls in chunks (cut at {cuts}) = one call", (final, outputs), (chunked, jnp.concatenate(chunk_outputs, axis=1)))

    # Only every other sequence starts an episode at split: a reset applied along another axis than the batch's shows.
    restarted = np.arange(batch_size) % 2 == 0
    reset = done.at[:, split:].set(False).at[:, split].set(jnp.asarray(restarted))
    _, with_reset = call(model, inputs, reset, carry)
    _, fresh = call(model, inputs[:, split:], reset[:, split:].at[:, 0].set(False), initial)
    close("a reset is a fresh start", with_reset[restarted, split:], fresh[restarted])
    _, without = call(model, inputs, reset.at[:, split].set(False), carry)
    close("a reset leaves the other sequences alone", with_reset[~restarted], without[~restarted])

    no_reset = jnp.zeros_like(done)
    _, a = call(model, inputs, no_reset, carry)
    _, b = call(model, inputs, no_reset, random_carry(model, batch_size, keys[3]))
    if np.allclose(a, b, rtol=rtol, atol=atol):
        raise AssertionError(f"{type(model).__name__}: the memory is not used: two carries give the same outputs without a reset.")

    long_inputs = jax.random.normal(keys[4], (batch_size, long_time, features))
    long_done = jax.random.bernoulli(keys[5], 0.01, (batch_size, long_time)).at[0].set(False)
    long_final, long_outputs = call(model, long_inputs, long_done, initial)
    if not all(np.all(np.isfinite(np.asarray(leaf))) for leaf in jax.tree.leaves((long_final, long_outputs))):
        raise AssertionError(f"{type(model).__name__}: outputs or carry are not finite over {long_time} steps.")
    # Outputs depend on no later step, so the long call's first pieces of ``time`` steps are compared: no new compilation.
    pieces, piece_outputs = long_time // time, []
    piece_carry = initial
    for start in range(0, pieces * time, time):
        piece_carry, y = call(model, long_inputs[:, start : start + time], long_done[:, start : start + time], piece_carry)
        piece_outputs.append(y)
    if pieces:
        close(f"calls of {time} steps = one call of {long_time}", long_outputs[:, : pieces * time], jnp.concatenate(piece_outputs, axis=1))

    grads = nnx.jit(nnx.grad(lambda model: jnp.sum(jnp.abs(model(inputs, done, carry)[1]) ** 2)))(model)
    for path, grad in jax.tree_util.tree_leaves_with_path(nnx.state(grads, nnx.Param)):
        grad = np.asarray(grad)
        if not np.all(np.isfinite(grad)) or not np.any(grad != 0):
            raise AssertionError(f"{type(model).__name__}: the gradient of {jax.tree_util.keystr(path)} is not finite and nonzero.")
