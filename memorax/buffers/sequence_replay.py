"""Replay of fixed-length sequences of steps, uniform or prioritised, on flashbax's trajectory buffer."""

from __future__ import annotations

import os
from typing import Any

import flashbax as fbx
import jax
import jax.numpy as jnp

from memorax.parallel import DataParallel

# Training keeps a few copies of the buffer alive at once (XLA's loop and branch buffers); a buffer larger than this
# share of the device's memory is refused before it is allocated, where the process would otherwise be killed later.
MAX_MEMORY_SHARE = 1 / 10


def device_memory() -> int | None:
    """Bytes of memory of JAX's default device: the GPU's limit, or the machine's RAM for a CPU; None if unknown."""
    device = jax.devices()[0]
    if device.platform == "cpu":
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    stats = device.memory_stats() or {}
    return stats.get("bytes_limit")


def _size(num_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num_bytes < 1024 or unit == "GiB":
            return f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024


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
        steps_per_env = capacity // num_envs // stride * stride
        if steps_per_env < sequence_length + stride - 1:
            # Once the ring wraps, the whole sequences lie in a window of steps_per_env - sequence_length + 1 starts
            # that moves with the write head; with fewer starts than a stride it can hold no stride start, and
            # flashbax would sample a sequence across the head (with priority 0, probability 0/0).
            raise ValueError(
                f"SequenceReplay: capacity {capacity} holds {steps_per_env} steps per environment (whole strides); "
                f"expected at least sequence_length + stride - 1 ({sequence_length + stride - 1}), so that a whole "
                "sequence starts on a stride wherever the buffer has wrapped to."
            )
        self.num_envs = num_envs
        self.steps_per_env = steps_per_env
        self.sequence_length = sequence_length
        self.buffer = fbx.make_prioritised_trajectory_buffer(
            add_batch_size=num_envs,
            sample_batch_size=batch_size,
            sample_sequence_length=sequence_length,
            period=stride,
            min_length_time_axis=sequence_length,
            max_length_time_axis=self.steps_per_env,  # flashbax wants whole strides
            priority_exponent=priority_exponent,
        )

    def init(self, step: Any):
        """An empty buffer for steps shaped like ``step`` (one step of one stream).

        Raises a ValueError, before allocating, when the buffer would take more
        than ``MAX_MEMORY_SHARE`` of the default device's memory; the message
        names the bytes per step and the largest part of a step (an attention
        cache, stored with every step as the carry, is the usual one).
        """
        self.check_memory(step)
        return self.buffer.init(step)

    def check_memory(self, step: Any) -> None:
        """Raises the ValueError of :meth:`init` for a buffer of steps shaped like ``step``."""
        parts: dict[str, int] = {}  # bytes per top-level field of a step
        for path, leaf in jax.tree_util.tree_leaves_with_path(step):
            field = jax.tree_util.keystr(path[:1])
            parts[field] = parts.get(field, 0) + leaf.size * leaf.dtype.itemsize
        per_step = sum(parts.values())
        total = per_step * self.num_envs * self.steps_per_env
        memory = device_memory()
        if memory is not None and total > MAX_MEMORY_SHARE * memory:
            largest = max(parts, key=parts.get)
            raise ValueError(
                f"SequenceReplay: {self.num_envs * self.steps_per_env:,} steps (buffer_size) of {_size(per_step)} each "
                f"would take {_size(total)}, more than {MAX_MEMORY_SHARE:.0%} of the device's {_size(memory)}; the "
                f"largest part of a step is {largest} ({_size(parts[largest])}). Use a smaller buffer_size, or a "
                "torso with a smaller carry (an attention cache holds context_length steps of keys and values)."
            )

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
        """Sets the priorities of the sequences at ``indices``, at least 1e-6, but for those at priority 0.

        Those the buffer does not hold whole (past its capacity, or across the
        write head) stay at 0. flashbax's sum tree adds differences in float32, so
        after thousands of updates its sums drift from its leaves' and a sample
        can land on such a sequence; given a priority, it would be sampled for good.
        """
        held = fbx.buffers.sum_tree.get_batch(state.sum_tree_state, indices) > 0
        return self.buffer.set_priorities(state, indices, jnp.where(held, jnp.maximum(priorities, 1e-6), 0.0))
