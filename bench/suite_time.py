"""Where the test suite's time goes: per module and per test, wall seconds and JAX's compile, trace and lowering seconds.

Usage: python bench/suite_time.py [--top 25] [PYTEST_ARGS...]   (without PYTEST_ARGS: `make test` itself)

It runs pytest with this file as a plugin (added through ``PYTEST_ADDOPTS``). Each worker appends a JSON line per
test to a temporary directory: the test's wall seconds (setup, call and
teardown) and what ``jax.monitoring`` reported meanwhile, namely XLA's backend
compile seconds (and those of compilations under 0.1 s, mostly operations run
eagerly), tracing to jaxprs and lowering to StableHLO. Then it prints a table of
the workers (whether they end together), one of the modules and one of the
slowest tests. Work done in subprocesses (the command-line tests') counts in
wall seconds only.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

OUTPUT = "MEMORAX_TEST_TIME_DIR"
TINY = 0.1  # seconds: a compilation under this is counted as small as well
EVENTS = {  # jax.monitoring's duration events, by the column they add to
    "/jax/core/compile/backend_compile_duration": "compile",
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
}


class SuiteTimes:
    """The pytest plugin: one JSON line per test into ``$MEMORAX_TEST_TIME_DIR/PID.jsonl``."""

    def __init__(self, directory: Path):
        self.path = directory / f"{os.getpid()}.jsonl"
        self.seconds: collections.Counter[str] = collections.Counter()
        self.listening = False

    def on_duration(self, event: str, duration: float, **_) -> None:
        column = EVENTS.get(event)
        if column is None:
            return
        self.seconds[column] += duration
        if column == "compile":
            self.seconds["compiles"] += 1
            self.seconds["small compile"] += duration if duration < TINY else 0.0

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if not self.listening:  # here, not at import: tests/conftest.py sets XLA's flags before jax is first imported
            import jax.monitoring

            jax.monitoring.register_event_duration_secs_listener(self.on_duration)
            self.listening = True
        self.seconds.clear()
        began = time.perf_counter()
        result = yield
        record = {"test": item.nodeid, "wall": time.perf_counter() - began, **self.seconds}
        with self.path.open("a") as file:
            file.write(json.dumps(record) + "\n")
        return result


def pytest_configure(config: pytest.Config) -> None:
    if OUTPUT in os.environ:
        config.pluginmanager.register(SuiteTimes(Path(os.environ[OUTPUT])), "memorax-test-times")


COLUMNS = ("wall", "compile", "small compile", "trace", "lower", "compiles")


def table(title: str, rows: list[tuple[str, collections.Counter]], columns: tuple[str, ...] = COLUMNS) -> str:
    lines = [f"| {title} | " + " | ".join(columns) + " |", "| --- " * (len(columns) + 1) + "|"]
    for name, seconds in rows:
        values = [f"{seconds[c]:.0f}" if c in ("tests", "compiles") else f"{seconds[c]:.1f}" for c in columns]
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def report(directory: Path, top: int) -> str:
    paths = sorted(directory.glob("*.jsonl"))
    workers = {path.stem: [json.loads(line) for line in path.read_text().splitlines()] for path in paths}
    records = [record for worker in workers.values() for record in worker]
    modules: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    total: collections.Counter = collections.Counter()
    for record in records:
        seconds = collections.Counter({k: v for k, v in record.items() if k != "test"}, tests=1)
        modules[record["test"].split("::")[0]].update(seconds)
        total.update(seconds)
    slowest = sorted(records, key=lambda r: -r["wall"])[:top]
    # A worker's busy seconds and its last module: a worker that ends much earlier than the other leaves a core idle.
    busy = []
    for pid, ran in workers.items():
        last_module = ran[-1]["test"].split("::")[0]
        busy.append((f"{pid} (last: {last_module})", collections.Counter(tests=len(ran), wall=sum(r["wall"] for r in ran))))
    return "\n\n".join(
        [
            table("worker", busy, ("tests", "wall")),
            table("module", sorted(modules.items(), key=lambda kv: -kv[1]["wall"]) + [("all", total)], ("tests", *COLUMNS)),
            table("test", [(r["test"], collections.Counter({k: v for k, v in r.items() if k != "test"})) for r in slowest]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", type=int, default=25, help="how many of the slowest tests to list")
    args, pytest_args = parser.parse_known_args()
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="memorax-test-time-") as directory:
        env = dict(
            os.environ,
            **{OUTPUT: directory},
            PYTHONPATH=os.pathsep.join([str(root / "bench"), os.environ.get("PYTHONPATH", "")]),
            PYTEST_ADDOPTS=f"{os.environ.get('PYTEST_ADDOPTS', '')} -p suite_time".strip(),
        )
        began = time.perf_counter()
        command = [sys.executable, "-m", "pytest", "-q", *pytest_args] if pytest_args else ["make", "test"]
        returncode = subprocess.run(command, cwd=root, env=env, check=False).returncode
        print(f"\n{' '.join(command)}: exit {returncode} after {time.perf_counter() - began:.0f} s\n")
        print(report(Path(directory), args.top))
    sys.exit(returncode)


if __name__ == "__main__":
    main()
