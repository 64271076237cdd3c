"""Replay of fixed-length sequences of steps, uniform or prioritised, on flashbax's trajectory buffer."""

from __future__ import annotations

from typing import Any

import flashbax as fbx
import jax
import jax.numpy as jnp

from memorax.parallel import DataParallel


class SequenceReplay:
    """Stores ``num_envs`` parallel streams of steps; samples ``batch_size`` sequences of ``sequence_length`` steps.

    Sequences start every ``stride`` steps of a stream, so they overlap when
    ``stride < sequence_length``, and they may cross episode boundaries: the
    stored ``done`` flags make the networks reset inside them. Sampling is
    uniform with ``priority_exponent = 0``; otherwise a sequence is drawn with
    probability proportional to ``priority ** priority_exponent`` (new
    sequences get the largest priority so far), as in R2D2. Works under ``jit``.

    Shapes: ``add`` takes one step of every stream, ``[num_envs, ...]`` per
    leaf; ``sample`` returns leaves ``[batch_size, sequence_length, ...]``.
    """

    def __init__(
        self, num_envs: int, capacity: int, sequence_length: int, batch_size: int, stride: int = 1, priority_exponent: float = 0.0
    ):
        for name, value in (("num_envs", num_envs), ("sequence_length", sequence_length), ("batch_size", batch_size), ("stride", stride)):
            if value < 1:
                raise ValueError(f"SequenceReplay: {name} is {value}; expected at least 1.")
        if capacity // num_envs // stride * stride < sequence_length:
            raise ValueError(
                f"SequenceReplay: capacity {capacity} holds {capacity // num_envs // stride * stride} steps per "
                f"environment (whole strides); expected at least sequence_length ({sequence_length})."
            )
        self.num_envs = num_envs
        self.sequence_length = sequence_length
        self.buffer = fbx.make_prioritised_trajectory_buffer(
            add_batch_size=num_envs,
            sample_batch_size=batch_size,
            sample_sequence_length=sequence_length,
            period=stride,
            min_length_time_axis=sequence_length,
            max_length_time_axis=capacity // num_envs // stride * stride,  # flashbax wants whole strides
            priority_exponent=priority_exponent,
        )

    def init(self, step: Any):
        """An empty buffer for steps shaped like ``step`` (one step of one stream)."""
        return self.buffer.init(step)

    def add(self, state, steps: Any):
        return self.buffer.add(state, jax.tree.map(lambda leaf: leaf[:, None], steps))

    def can_sample(self, state) -> jax.Array:
        return self.buffer.can_sample(state)

    def sample(self, state, key: jax.Array):
        """``batch_size`` sequences: ``.experience`` (leaves ``[batch, time, ...]``), ``.indices``, ``.probabilities``.

        Raises a ValueError when called eagerly on a buffer that holds fewer
        than ``sequence_length`` steps per stream.
        """
        can_sample = self.can_sample(state)
        if not isinstance(can_sample, jax.core.Tracer) and not bool(can_sample):
            raise ValueError(
                f"SequenceReplay.sample: the buffer holds {int(state.current_index)} steps per environment; "
                f"sampling needs at least sequence_length ({self.sequence_length})."
            )
        return self.buffer.sample(state, key)

    @staticmethod
    def place(state, parallel: DataParallel):
        """The buffer's steps split over ``parallel``'s devices by environment; its indices and priorities on every device.

        Sampling then gathers each sequence from the device that holds it.
        """
        return parallel.place(state, experience=parallel.split)

    def set_priorities(self, state, indices: jax.Array, priorities: jax.Array):
        return self.buffer.set_priorities(state, indices, jnp.maximum(priorities, 1e-6))
