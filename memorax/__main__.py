"""``python -m memorax``: the ``memorax`` command."""

from memorax.launch import main

main()
