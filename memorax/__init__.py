"""memorax: memory-based reinforcement learning in JAX, built on Flax NNX."""

__version__ = "0.1.0"
