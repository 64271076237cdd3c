"""The logger interface: a record per logging interval."""

from __future__ import annotations

from typing import Protocol


class Logger(Protocol):
    """Receives one record per logging interval: ``{"interval", "env_steps", "episode_return", ...}``.

    Values are ints, floats, or None where undefined (no episode ended).
    """

    def log(self, record: dict) -> None: ...

    def close(self) -> None: ...
