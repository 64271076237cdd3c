"""The ``memorax`` command's entry point: a process of a multi-host run joins the others before anything starts JAX.

``jax.distributed.initialize`` must run before JAX's first computation, and
importing the commands already computes (gymnax builds arrays when it is
imported), so the launch options are read first, then the commands imported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import sys

import jax
import tyro


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


def main(args: list[str] | None = None) -> None:
    args = sys.argv[1:] if args is None else args
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            launch, _ = tyro.cli(Launch, args=args, return_unknown_args=True, add_help=False)
    except SystemExit:
        launch = Launch()  # a malformed launch option: the commands' parser reports it in one line
    if launch.distributed:
        jax.distributed.initialize(launch.coordinator_address, launch.num_processes, launch.process_id)
    from memorax import cli

    cli.main(args)


if __name__ == "__main__":
    main()
