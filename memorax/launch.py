"""The ``memorax`` command's entry point: a process of a multi-host run joins the others before anything starts JAX.

``jax.distributed.initialize`` must run before JAX's first computation, and
importing the commands already computes (gymnax builds arrays when it is
imported), so the launch options are read first, then the commands imported.
This is the one entry point (the ``memorax`` script and ``python -m memorax``);
``cli.py`` takes the launch options from ``launch_options.py``, not from here, so
the two modules do not import each other.
"""

from __future__ import annotations

import contextlib
import io
import sys

import jax
import tyro

from memorax.launch_options import Launch


def main(args: list[str] | None = None) -> None:
    """Join the other processes if ``--distributed``, then run the command in ``args`` (default: ``sys.argv[1:]``)."""
    args = sys.argv[1:] if args is None else args
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            launch, _ = tyro.cli(Launch, args=args, return_unknown_args=True, add_help=False)
    except SystemExit:
        launch = Launch()  # a malformed launch option: the commands' parser reports it in one line
    if launch.distributed:
        try:
            jax.distributed.initialize(launch.coordinator_address, launch.num_processes, launch.process_id)
        except (ValueError, RuntimeError) as error:  # no coordinator given and no cluster detected, say
            print(f"memorax: error: --distributed: {error}", file=sys.stderr)
            sys.exit(2)
    from memorax import cli

    cli.main(args)
