"""``Launch``: the options by which a process joins the others of a multi-host run.

They live apart from both modules that read them so that neither imports the
other: ``launch.py`` (the entry point) must read them before anything computes
with JAX, and ``cli.py`` lists them among ``memorax train``'s options, but only
``launch.py`` imports ``cli.py``, and only once the processes have joined.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Launch:
    """How this process joins the others of a run on several hosts (docs/scaling.md)."""

    distributed: bool = False
    """Be one process of several, one per host, training one agent over all their devices: jax.distributed.initialize
    finds the others by Slurm, Open MPI or the three options below. Start it with the memorax command."""
    coordinator_address: str | None = None
    """With --distributed: host:port of process 0, the same for every process."""
    num_processes: int | None = None
    """With --distributed: how many processes there are."""
    process_id: int | None = None
    """With --distributed: this process's number, 0 to num_processes - 1."""
