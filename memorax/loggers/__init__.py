"""Loggers: where a run's per-interval records go. Each has ``log(record)`` and ``close()``."""

from memorax.loggers.benchmark_progress import BenchmarkProgress
from memorax.loggers.jsonl import JsonLinesLogger, read_records
from memorax.loggers.logger import Logger
from memorax.loggers.progress import ProgressBar
from memorax.loggers.tensorboard import TensorBoardLogger
from memorax.loggers.wandb import WandbLogger

__all__ = ["BenchmarkProgress", "JsonLinesLogger", "Logger", "ProgressBar", "TensorBoardLogger", "WandbLogger", "read_records"]
