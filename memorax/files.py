"""A run directory's files: written whole or not at all, read with errors that name them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_text_atomically(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file replaced in one step.

    A kill while writing leaves the old file, or none, never half of one: a
    half-written ``evaluation.json`` or ``failure.json`` would mark a cell as
    ended that a resume could then neither rerun nor report, and a half-rewritten
    ``metrics.jsonl`` would lose records.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def write_json(path: Path, value: Any, allow_nan: bool = True) -> None:
    """Writes ``value`` to ``path`` as indented JSON, whole or not at all; ``allow_nan=False`` refuses NaN and infinities."""
    write_text_atomically(path, json.dumps(value, indent=2, allow_nan=allow_nan))


def read_json(path: Path) -> Any:
    """The JSON value in ``path``.

    Raises:
      ValueError: naming the file, where it is not JSON (e.g. written by hand, or by another program, and cut short).
    """
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not a JSON file ({error}); delete it, or restore it, and try again.") from None
