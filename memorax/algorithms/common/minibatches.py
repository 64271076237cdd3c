"""Epochs of minibatch gradient steps over a rollout, split along environments so sequences stay whole."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax


def minibatch_epochs(
    loss: Callable[[Any, Any], tuple[jax.Array, dict]],
    optimizer: optax.GradientTransformation,
    params: Any,
    opt_state: optax.OptState,
    key: jax.Array,
    data: Any,
    num_epochs: int,
    num_minibatches: int,
    place: Callable[[Any], Any] = lambda minibatch: minibatch,
) -> tuple[Any, optax.OptState, dict]:
    """``num_epochs`` passes; each splits ``data``'s leading (environment) axis at random into ``num_minibatches``.

    Every minibatch is one gradient step on ``loss(params, minibatch) ->
    (loss, stats)``, where the minibatch holds every leaf of ``data``
    restricted to ``num_envs // num_minibatches`` environments and all their
    steps, placed by ``place`` (e.g. split over devices). Returns the final
    parameters and optimizer state, and ``stats`` stacked ``[num_epochs, num_minibatches]``.
    """
    num_envs = jax.tree.leaves(data)[0].shape[0]
    size = num_envs // num_minibatches

    def gradient_step(learner, indices):
        params, opt_state = learner
        minibatch = place(jax.tree.map(lambda leaf: leaf[indices], data))
        grads, stats = jax.grad(loss, has_aux=True)(params, minibatch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), stats

    def epoch(learner, key):
        order = jax.random.permutation(key, num_envs).reshape(num_minibatches, size)
        return jax.lax.scan(gradient_step, learner, order)

    (params, opt_state), stats = jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, num_epochs))
    return params, opt_state, stats
