"""Replay buffers: pure-JAX, usable under ``jit``."""

from memorax.buffers.sequence_replay import SequenceReplay

__all__ = ["SequenceReplay"]
