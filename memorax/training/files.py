"""A run directory's JSON files: written whole or not at all, read with errors that name them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json(path: Path, value: Any) -> None:
    """Writes ``value`` to ``path`` as indented JSON through a temporary file replaced in one step.

    A kill while writing leaves the old file, or none, never half of one: a
    half-written ``evaluation.json`` or ``failure.json`` would mark a cell as
    ended that a resume could then neither rerun nor report.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(value, indent=2))
    os.replace(temporary, path)


def read_json(path: Path) -> Any:
    """The JSON value in ``path``.

    Raises:
      ValueError: naming the file, where it is not JSON (e.g. written by hand, or by another program, and cut short).
    """
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not a JSON file ({error}); delete it, or restore it, and try again.") from None
