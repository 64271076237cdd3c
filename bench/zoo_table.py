"""The zoo table of docs/benchmarks.md, from the results kept in bench/zoo/results.json.

The zoo's grid (docs/benchmarks.md, "The zoo models on every Easy task") takes
longer than a session, so it runs as several benchmark directories, some of them
interrupted before their report. This script keeps their finished cells:

    python bench/zoo_table.py grids/zoo-mamba2 grids/zoo-deltanet ...

adds each finished cell of those benchmark directories to bench/zoo/results.json
(the entries of a benchmark's results.json, one per model and task, a cell run
again replacing the old) and rewrites the table's rows after ``<!-- the zoo table -->``.

Cells whose ``status`` is ``recovered`` ran before their records were kept here:
their runs are gone, and what is left is the table's own text. With 3 seeds a
cell's text is the seeds' mean and [lowest, highest] (see memorax/training/report.py),
so its seeds are recovered as the lowest, the highest, and 3 × mean − lowest − highest,
to the table's three decimals; its MMER is the mean the table gave. A column all
of whose cells are recovered keeps the "all tasks" figure it was given.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from memorax.training import report
from memorax.training.benchmark import BenchmarkOptions
from memorax.training.options import TrainOptions, from_fields
from memorax.training.run import Run

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "zoo" / "results.json"
DOCS = ROOT / "docs" / "benchmarks.md"
MARKER = "<!-- the zoo table -->"
MODELS = ("ffm", "mingru", "minlstm", "mamba2", "mlstm", "slstm", "deltanet", "linear_attention", "gated_deltanet")
TASKS = (
    "RepeatPrevious-Easy", "RepeatFirst-Easy", "CountRecall-Easy", "Autoencode-Easy",
    "StatelessCartPole-Easy", "NoisyStatelessCartPole-Easy", "VelocityOnlyCartPole-Easy",
    "PositionOnlyPendulum-Easy", "NoisyPositionOnlyPendulum-Easy", "MineSweeper-Easy",
    "Battleship-Easy", "HigherLower-Easy", "MultiarmedBandit-Easy",
    "LabyrinthEscape-Easy", "LabyrinthExplore-Easy", "Concentration-Easy",
)  # fmt: skip


def finished_cells(directory: Path) -> list[dict]:
    """The results.json entries of the cells of the benchmark in ``directory`` that have ended (finished or failed)."""
    recorded = from_fields(BenchmarkOptions, json.loads((directory / "benchmark.json").read_text()))
    options = dataclasses.replace(recorded, run_dir=directory)  # where it is now, as --resume takes it
    entries = []
    for kind, env, cell in options.cells():
        run = Run(cell.run_dir)
        if run.ended:
            entries.append(report.cell_results(kind, env, cell, run.records()))
    return entries


def protocol(config: dict) -> dict:
    """What every zoo cell shares: its config less the model, the task and where and how it ran, and a
    learning rate that is its model's default (None in the older cells' config.json, the value in newer ones)."""
    torso = {key: value for key, value in config["torso"].items() if key != "kind"}
    left_out = ("env", "torso", "run_dir", "devices", "seed_devices", "logger", "pqn", "dqn", "sac")
    shared = {key: value for key, value in config.items() if key not in left_out} | {"torso": torso}
    default = dataclasses.replace(from_fields(TrainOptions, config), learning_rate=None).optimizer_learning_rate
    return shared | {"learning_rate": "the model's default" if config["learning_rate"] in (None, default) else config["learning_rate"]}


def merged(kept: dict, new: list[dict]) -> dict:
    """``kept`` with the cells of ``new`` added, each replacing a kept cell of the same model and task.

    A cell that ran otherwise than the kept ones (a grid of control tasks alone gets γ 0.99 from the
    preset, the zoo's cells 0.1) raises a ValueError naming the fields that differ.
    """
    expected = next((protocol(cell["config"]) for cell in kept["cells"] if cell["status"] != "recovered"), None)
    for cell in new:
        differing = [key for key in protocol(cell["config"]) if expected and protocol(cell["config"])[key] != expected.get(key)]
        if differing:
            raise ValueError(f"{cell['torso']} × {cell['env']} ran otherwise than the zoo's cells: {differing} differ.")
    cells = {(cell["torso"], cell["env"]): cell for cell in kept["cells"]}
    cells.update({(cell["torso"], cell["env"]): cell for cell in new})
    return dict(kept, cells=list(cells.values()))


def cell_text(cell: dict | None) -> str:
    """A table cell: the seeds' IQM [lowest, highest] · MMER, ``failed``, or ``—`` where it has not run."""
    if cell is None:
        return "—"
    return report.cell_text(cell, mmer=cell["mmer"] if cell["status"] == "recovered" else None)


def aggregate_text(kind: str, cells: dict, kept_aggregates: dict) -> str:
    """A column's "all tasks": its runs' IQM over the 16 tasks [95% stratified-bootstrap CI], once every task has run."""
    column = [cells.get((kind, f"memorax::{task}")) for task in TASKS]
    done = [cell for cell in column if cell is not None]
    if len(done) < len(TASKS):
        return f"— ({len(done)} of {len(TASKS)} tasks)"
    if any(cell["status"] == "failed" for cell in done):
        return "— (a cell failed)"
    if all(cell["status"] == "recovered" for cell in done) and kind in kept_aggregates:
        return kept_aggregates[kind]
    scores = np.array([[seed["final_return"] for seed in cell["seeds"]] for cell in done]).T  # [seeds, tasks]
    return report.interval_text(report.iqm_interval(scores))


def table(results: dict) -> list[str]:
    """The table's lines: one row per task, one column per model with at least one cell, and the "all tasks" row."""
    cells = {(cell["torso"], cell["env"]): cell for cell in results["cells"]}
    kinds = [kind for kind in MODELS if any(torso == kind for torso, _ in cells)]
    aggregates = results.get("recovered_aggregates", {})
    lines = ["| task | " + " | ".join(kinds) + " |", "| --- |" + " --- |" * len(kinds)]
    for task in TASKS:
        lines.append(f"| {task} | " + " | ".join(cell_text(cells.get((kind, f"memorax::{task}"))) for kind in kinds) + " |")
    lines.append("| all tasks | " + " | ".join(aggregate_text(kind, cells, aggregates) for kind in kinds) + " |")
    return lines


def rewrite_docs(lines: list[str]) -> None:
    """Replaces the table after the marker in docs/benchmarks.md (the lines up to the first blank one)."""
    text = DOCS.read_text().splitlines()
    start = text.index(MARKER) + 1
    end = text.index("", start)
    DOCS.write_text("\n".join(text[:start] + lines + text[end:]) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directories", nargs="*", type=Path, help="benchmark directories whose ended cells to keep")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text())
    for directory in args.directories:
        new = finished_cells(directory)
        print(f"{directory}: {len(new)} ended cells")
        results = merged(results, new)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    lines = table(results)
    rewrite_docs(lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
