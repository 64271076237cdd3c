"""metrics.jsonl: one JSON object per logging interval, appended as the run goes."""

from __future__ import annotations

import json
from pathlib import Path

from memorax.files import write_text_atomically


def read_records(path: Path) -> list[dict]:
    """The records of a metrics.jsonl file, in order; a last line cut short (a run killed as it wrote it) is left out.

    Raises:
      ValueError: naming the file and the line, for any other line that is not a JSON record.
    """
    lines = Path(path).read_text().splitlines(keepends=True)
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number == len(lines) and not line.endswith("\n"):
                break
            raise ValueError(f"{path}: line {number} is not a JSON record ({error}).") from None
    return records


class JsonLinesLogger:
    """Appends each record to ``path`` as one line, flushed at once; ``records`` holds them all.

    Args:
      path: the file.
      keep_below: on resuming, records of intervals ``>= keep_below`` (logged
        after the checkpoint the run resumes from) are dropped first.
    """

    def __init__(self, path: Path, keep_below: int = 0):
        self.records = [record for record in read_records(path) if record["interval"] < keep_below] if path.exists() else []
        write_text_atomically(path, "".join(json.dumps(record, allow_nan=False) + "\n" for record in self.records))
        self.file = open(path, "a")

    def log(self, record: dict) -> None:
        self.file.write(json.dumps(record, allow_nan=False) + "\n")
        self.file.flush()
        self.records.append(record)

    def close(self) -> None:
        self.file.close()
