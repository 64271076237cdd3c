"""The check every module's constructor runs on the sizes it is given."""

from __future__ import annotations

import numbers


def require_sizes(owner: str, **sizes: int | None) -> None:
    """Raises a ValueError naming ``owner`` and the first of ``sizes`` that is not a positive integer; None passes
    (a size left to be worked out, as an optional ``features``).

    Without it a zero width failed deep in an initialiser (a division by zero)
    and a negative one inside XLA, naming neither the module nor the size.
    """
    for name, size in sizes.items():
        if size is not None and (isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1):
            raise ValueError(f"{owner}: {name} is {size!r}; expected a positive integer.")
