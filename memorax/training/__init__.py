"""Runs: options, building agents from them, chunked training with checkpoints, logs and plots."""

from memorax.training.options import (
    DQNOptions,
    EncoderOptions,
    PPOOptions,
    PQNOptions,
    SACOptions,
    TorsoOptions,
    TrainOptions,
)
from memorax.training.run import Run, compare_runs, evaluate_run, load, train

__all__ = [
    "DQNOptions",
    "EncoderOptions",
    "PPOOptions",
    "PQNOptions",
    "Run",
    "SACOptions",
    "TorsoOptions",
    "TrainOptions",
    "compare_runs",
    "evaluate_run",
    "load",
    "train",
]
