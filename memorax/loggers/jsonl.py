"""metrics.jsonl: one JSON object per logging interval, appended as the run goes."""

from __future__ import annotations

import json
from pathlib import Path


def read_records(path: Path) -> list[dict]:
    """The records of a metrics.jsonl file, in order."""
    with open(path) as file:
        return [json.loads(line) for line in file if line.strip()]


class JsonLinesLogger:
    """Appends each record to ``path`` as one line, flushed at once; ``records`` holds them all.

    Args:
      path: the file.
      keep_below: on resuming, records of intervals ``>= keep_below`` (logged
        after the checkpoint the run resumes from) are dropped first.
    """

    def __init__(self, path: Path, keep_below: int = 0):
        kept = [record for record in read_records(path) if record["interval"] < keep_below] if path.exists() else []
        self.records: list[dict] = []
        self.file = open(path, "w")
        for record in kept:
            self.log(record)

    def log(self, record: dict) -> None:
        self.file.write(json.dumps(record, allow_nan=False) + "\n")
        self.file.flush()
        self.records.append(record)

    def close(self) -> None:
        self.file.close()
