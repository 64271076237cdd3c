"""Memory horizon: how strongly a network's output at step t depends on what it observed at step t - k."""

from __future__ import annotations

import dataclasses
from typing import Any

import distrax
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from memorax.algorithms.common.vector_env import StepInputs
from memorax.networks import Network


@dataclasses.dataclass(frozen=True)
class MemoryHorizon:
    """The sensitivity of a network's outputs to earlier observations, by lag.

    Attributes:
      sensitivity: ``[max_lag + 1]``; entry ``k`` is the root mean square, over
        every pair of steps ``(t - k, t)`` of one episode, of the Frobenius norm
        of ``∂y_t / ∂o_{t-k}`` (``y`` the output, ``o`` the observation); NaN
        where no episode given is longer than ``k`` steps (no pair to measure).
      relative: ``sensitivity`` divided by its largest entry.
      peak: the lag of the largest entry.
      horizon: the largest lag whose relative sensitivity is at least
        ``threshold``: how far back the network looks, as far as measured.
      threshold: the relative sensitivity that counts as looking.
      pairs: ``[max_lag + 1]``, the number of step pairs behind each entry.
    """

    sensitivity: np.ndarray
    relative: np.ndarray
    peak: int
    horizon: int
    threshold: float
    pairs: np.ndarray


def judged_output(output: Any) -> jax.Array:
    """The array a head's output is judged by: a categorical policy's logits, a Gaussian's mean (squashed for
    a squashed Gaussian), or the values themselves (value and Q heads)."""
    if isinstance(output, distrax.Categorical):
        return output.logits
    if isinstance(output, distrax.Transformed):
        return output.bijector.forward(output.distribution.mean())
    if isinstance(output, distrax.Distribution):
        return output.mean()
    return output


def memory_horizon(
    network: Network, inputs: StepInputs, key: jax.Array, *, max_lag: int = 16, probes: int = 8, threshold: float = 0.1
) -> MemoryHorizon:
    """How strongly ``network``'s output at step ``t`` depends on its observation at ``t - k``, for ``k = 0..max_lag``.

    ``inputs`` holds sequences ``[B, T, ...]`` (:func:`~memorax.diagnostics.random_rollout`,
    :func:`~memorax.diagnostics.rollout_with_states`) whose first step starts an episode; the network
    runs over them from its initial carry. ``||∂y_t/∂o_s||_F²`` is estimated
    as the mean of ``||u^T (∂y_t/∂o_s)||²`` over ``probes`` standard normal
    directions ``u`` of the output (Hutchinson's estimator): one backward pass
    per target step and probe gives the gradients for every earlier
    observation at once. A network that resets
    its memory at episode starts has zero sensitivity across them; pairs that
    cross one are left out of the averages.

    Raises:
      ValueError: if the observations are not floating point, ``max_lag`` is not below ``T``, ``probes`` is
        below 1, ``threshold`` is not in (0, 1], or the outputs do not depend on the observations at all
        (every sensitivity 0: a head initialised to zeros, say), which leaves no horizon to give.
    """
    batch, steps = inputs.done.shape
    if not jnp.issubdtype(inputs.obs.dtype, jnp.floating):
        raise ValueError(f"memory_horizon: observations of dtype {inputs.obs.dtype}; expected floating point, to differentiate.")
    if not 0 <= max_lag < steps:
        raise ValueError(f"memory_horizon: max_lag is {max_lag}; expected 0 to {steps - 1}, below the {steps} steps given.")
    if probes < 1:
        raise ValueError(f"memory_horizon: probes is {probes}; expected at least 1.")
    if not 0 < threshold <= 1:
        raise ValueError(f"memory_horizon: threshold is {threshold}; expected a relative sensitivity in (0, 1].")
    graphdef, state = nnx.split(network)

    def outputs(observation: jax.Array) -> jax.Array:
        _, output = nnx.merge(graphdef, state)(observation, inputs.done, None, inputs.prev_action, inputs.prev_reward)
        return judged_output(output).reshape(batch, steps, -1)

    def squared_responses(observation: jax.Array, directions: jax.Array) -> jax.Array:
        """``||u^T ∂y_t/∂o_s||²`` averaged over the directions ``u``, ``[target t, B, source s]``: the network runs
        forward once (``jax.vjp``) and back once per target step and direction. Reverse mode, because the fused
        recurrences (GRU, LSTM, Mamba, the linear recurrences) define their own backward pass, not a forward one."""
        _, pull_back = jax.vjp(outputs, observation)

        def squared_response(target: jax.Array, direction: jax.Array) -> jax.Array:
            (gradient,) = pull_back(jnp.zeros((batch, steps, direction.shape[-1])).at[:, target].set(direction))
            return jnp.sum(gradient.reshape(batch, steps, -1) ** 2, axis=-1)

        return jax.lax.map(
            lambda args: jnp.mean(jax.vmap(squared_response, (None, 0))(*args), axis=0), (jnp.arange(steps), directions)
        )

    width = jax.eval_shape(outputs, inputs.obs).shape[-1]
    directions = jax.random.normal(key, (steps, probes, batch, width), inputs.obs.dtype)
    estimate = jax.jit(squared_responses)(inputs.obs, directions)  # [target, B, source]

    episode = jnp.cumsum(inputs.done, axis=1)  # [B, T]
    squared, pairs = np.zeros(max_lag + 1), np.zeros(max_lag + 1, int)
    for lag in range(max_lag + 1):
        source = np.arange(steps - lag)
        same_episode = np.asarray(episode[:, source] == episode[:, source + lag])  # [B, T - lag]
        values = np.asarray(estimate[source + lag, :, source]).T  # [B, T - lag]
        squared[lag] = values[same_episode].sum()
        pairs[lag] = same_episode.sum()
    sensitivity = np.where(pairs > 0, np.sqrt(squared / np.maximum(pairs, 1)), np.nan)  # lag 0 always has pairs
    if not np.nanmax(sensitivity) > 0:
        raise ValueError(
            f"memory_horizon: the outputs do not depend on the observations (sensitivity {np.nanmax(sensitivity)} at every "
            "lag), so the network looks back no distance at all: is its head initialised to zeros?"
        )
    relative = sensitivity / np.nanmax(sensitivity)
    looked = np.flatnonzero(relative >= threshold)
    return MemoryHorizon(sensitivity, relative, int(np.nanargmax(sensitivity)), int(looked.max()), threshold, pairs)
