"""The logger interface: a record per logging interval."""

from __future__ import annotations

from typing import Protocol


class Logger(Protocol):
    """Receives one record per logging interval: ``{"interval", "env_steps", "episode_return", ...}``.

    Values are ints, floats, or None where undefined (no episode ended).
    """

    def log(self, record: dict) -> None: ...

    def close(self) -> None: ...


def scalars(record: dict) -> dict[str, float]:
    """A record's numbers for a dashboard, by name: each numeric field but ``interval`` and ``env_steps`` (the step),
    and with several seeds each seed's as ``seed_S/NAME``."""
    values = {name: value for name, value in record.items() if name not in ("interval", "env_steps") and _number(value)}
    for seed in record.get("seeds", ()):
        values.update({f"seed_{seed['seed']}/{name}": value for name, value in seed.items() if name != "seed" and _number(value)})
    return values


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
