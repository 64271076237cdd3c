"""Linear probes: what a network's memory holds, read off its carry."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from memorax.algorithms.common.axes import add_time_axis, swap_batch_time
from memorax.algorithms.common.vector_env import StepInputs
from memorax.environments import TMaze
from memorax.environments.popgym import Autoencode, Battleship, CountRecall, MineSweeper, RepeatFirst, RepeatPrevious
from memorax.networks import Network


def carries(network: Network, inputs: StepInputs) -> jax.Array:
    """The carry after each step, flattened: ``[B, T, D]`` (complex leaves as real and imaginary parts).

    ``network`` runs step by step over ``inputs`` (leaves ``[B, T, ...]``)
    from its initial carry, as an agent acts.
    """
    graphdef, state = nnx.split(network)

    def step(carry, inputs):
        step_inputs = add_time_axis(inputs)
        carry, _ = nnx.merge(graphdef, state)(
            step_inputs.obs, step_inputs.done, carry, step_inputs.prev_action, step_inputs.prev_reward
        )
        leaves = [leaf.reshape(leaf.shape[0], -1) for leaf in jax.tree.leaves(carry)]
        flat = [part for leaf in leaves for part in ((leaf.real, leaf.imag) if jnp.iscomplexobj(leaf) else (leaf,))]
        return carry, jnp.concatenate(flat, axis=-1) if flat else jnp.zeros((inputs.done.shape[0], 0))

    initial = network.initialize_carry(inputs.done.shape[0])
    _, features = jax.jit(lambda inputs: jax.lax.scan(step, initial, swap_batch_time(inputs)))(inputs)
    return jnp.swapaxes(features, 0, 1)


def probe_accuracy(features: np.ndarray, labels: np.ndarray, mask: np.ndarray, *, ridge: float = 1.0) -> float:
    """Held-out accuracy of a linear classifier of ``labels`` from ``features``.

    ``features [B, T, D]``; integer ``labels [B, T]``, or ``[B, T, C]`` for
    ``C`` values at once (the cells of a board), each classified on its own;
    ``mask [B, T]``, the steps to use. The first half of the sequences fits a
    ridge regression of the one-hot labels on the standardised features (with
    a bias; a feature constant there is only centred); the other half is classified by the largest output of each value.
    The accuracy is the mean over steps and values. With ``D = 0`` the probe is
    the best constant guess: the baseline to compare with. NaN where either
    half has no step in ``mask`` (e.g. labels ``lag`` steps back in episodes
    no longer than ``lag``): nothing to fit, or nothing to score.
    """
    features, labels, mask = np.asarray(features, np.float64), np.asarray(labels), np.asarray(mask, bool)
    labels = labels.reshape(*labels.shape[:2], -1)  # [B, T, C]
    half = features.shape[0] // 2
    fit_x, fit_y = features[:half][mask[:half]], labels[:half][mask[:half]]
    test_x, test_y = features[half:][mask[half:]], labels[half:][mask[half:]]
    if not len(fit_y) or not len(test_y):
        return float("nan")
    mean, spread = fit_x.mean(0), fit_x.std(0)
    scale = np.where(spread > 1e-6, spread, 1.0)  # a feature constant in the fit half is only centred
    design = lambda x: np.concatenate([(x - mean) / scale, np.ones((len(x), 1))], axis=1)
    classes = int(labels.max()) + 1
    x = design(fit_x)
    targets = np.eye(classes)[fit_y].reshape(len(fit_y), -1)  # [N, C * classes]
    weights = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ targets)
    scores = (design(test_x) @ weights).reshape(len(test_y), -1, classes)
    return float(np.mean(np.argmax(scores, axis=-1) == test_y))


def baseline_accuracy(labels: np.ndarray, mask: np.ndarray) -> float:
    """:func:`probe_accuracy` with no features: the best constant guess of each value."""
    return probe_accuracy(np.zeros((*mask.shape, 0)), labels, mask)


def remembered_observation(inputs: StepInputs, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, mask)`` ``[B, T]``: the index of the largest entry of the observation ``lag`` steps back (the class of a
    one-hot observation), and whether that step is in the same episode."""
    observation = np.asarray(inputs.obs).reshape(*inputs.done.shape, -1)
    episode = np.cumsum(np.asarray(inputs.done), axis=1)
    labels = np.zeros(inputs.done.shape, int)
    mask = np.zeros(inputs.done.shape, bool)
    labels[:, lag:] = np.argmax(observation[:, : observation.shape[1] - lag], axis=-1)
    mask[:, lag:] = episode[:, lag:] == episode[:, : episode.shape[1] - lag]
    return labels, mask


def hidden_state_labels(env, states: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """``(labels, mask)`` of what a built-in task asks its agent to remember, at the steps ``mask [B, T]`` where it is
    defined, from the environment's states ``[B, T, ...]`` (:func:`~memorax.diagnostics.rollout_with_states`).

    One label per step, ``[B, T]``: RepeatPrevious, the suit ``k - 1`` cards
    back (from the ``k``-th card on); RepeatFirst, the first card's suit;
    CountRecall, the count asked for; Autoencode, the suit to name (in the
    naming phase); TMaze, the cued goal. One label per cell, ``[B, T, cells]``:
    MineSweeper, 0 for a cell not clicked, 1 cleared (where the mines are is
    never shown: a click on one ends the episode); Battleship, 0 not fired at,
    1 a miss, 2 a hit. None for other tasks.
    """
    target = jax.vmap(jax.vmap(env.target)) if hasattr(env, "target") else None
    if isinstance(env, RepeatPrevious):
        return np.asarray(target(states)), np.asarray(states.time + 1 >= env.k)
    if isinstance(env, (RepeatFirst, CountRecall)):
        return np.asarray(target(states)), np.ones(states.time.shape, bool)
    if isinstance(env, Autoencode):
        return np.asarray(target(states)), np.asarray(states.time >= env.num_cards - 1)
    if isinstance(env, TMaze):
        return np.asarray(states.cue), np.ones(states.cue.shape, bool)
    if isinstance(env, MineSweeper):
        return np.asarray(states.viewed).astype(int), np.ones(states.time.shape, bool)
    if isinstance(env, Battleship):
        guesses = np.asarray(states.guesses)
        return np.where(guesses, np.where(np.asarray(states.board), 2, 1), 0), np.ones(states.time.shape, bool)
    return None


def probe_remembered_observation(network: Network, inputs: StepInputs, lag: int) -> float:
    """Held-out accuracy of a linear probe that reads, from the carry after step ``t``, the class of the one-hot
    observation at ``t - lag`` (the card RepeatPrevious-Easy asks for at ``lag=3``)."""
    labels, mask = remembered_observation(inputs, lag)
    return probe_accuracy(np.asarray(carries(network, inputs)), labels, mask)
