"""Settings of a test run that make it compile less and faster; none changes what a test asserts.

pytest loads this file before any test module imports jax, in the main
process, and the xdist workers and the command-line tests' subprocesses
inherit its environment:

- one JAX compilation cache per run, in a temporary directory, so a program
  compiled by one worker or subprocess (the same PPO in the CLI tests, say)
  is compiled once per run. A new directory per run keeps the suite's time
  that of a fresh clone.
- XLA:CPU compiles for a short compile, not the fastest program: fusions
  emitted straight to LLVM rather than through MLIR, LLVM's expensive passes
  skipped, and JAX's ``jax_disable_most_optimizations`` (optimisation level 0)
  for every test but those marked ``optimized`` (``pytest_runtest_setup``), which
  get level 1. Most tests run a program once or a few times, so compiling
  dominates their time: level 1 halves it against the defaults, level 0 cuts a
  compile-bound module's time by about a third again (the sequence models' 127 s
  to 78 s, alone). But level 0's programs run two to ten times slower (a
  convolution over pixels, ten), so the tests whose programs run long, an agent
  trained until it learns, are marked ``optimized``: over the suite (2026-11-28)
  level 0 everywhere saved 276 s of the tests' CPU time and cost 354 s in those.
  Results may differ from the defaults' in the last bits, as between two
  machines; a learning test's seed may then learn otherwise, so a learning test
  is checked at the level it runs at.

It also gives each xdist worker its own CPUs (``pin_worker``), hands the longest modules out first
(``LONGEST_FIRST``) and frees compiled programs as a run goes (``pytest_runtest_teardown``).
"""

import atexit
import gc
import os
import shutil
import tempfile

import pytest


def pin_worker() -> None:
    """Gives an xdist worker its own share of the CPUs (one each for ``-n 2`` on two), before JAX starts.

    XLA:CPU sizes its thread pools by the CPUs a process may run on. Two
    workers that may each run on both CPUs run four pools' threads on two
    cores, and their small operations wait on each other: unpinned, groups of
    modules timed here took 3-10% longer and single learning tests up to a
    third longer (recurrent SAC 60 s, 45 s pinned). The command-line tests'
    subprocesses inherit their worker's share.
    """
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if worker is None or count is None or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    share = max(1, len(cpus) // int(count))
    first = int(worker.removeprefix("gw")) * share % len(cpus)
    os.sched_setaffinity(0, cpus[first : first + share])


pin_worker()

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    cache = tempfile.mkdtemp(prefix="memorax-tests-jax-cache-")
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = cache
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"  # for what compiles at collection; each test sets its own level
    os.environ["XLA_FLAGS"] = (
        f"{os.environ.get('XLA_FLAGS', '')} --xla_llvm_disable_expensive_passes=true"
        " --xla_backend_optimization_level=1 --xla_cpu_use_fusion_emitters=false"
    ).strip()


# The modules that took longest here (2026-11-27, 2 workers: 145 s down to 26 s), handed out first: with
# `--no-loadscope-reorder` (the Makefile's) xdist gives each worker the next module in this order, and the short
# modules left for last even out when the two workers end. The others follow in name order.
LONGEST_FIRST = (
    "test_ppo.py", "test_environments.py", "test_sequence_models.py", "test_cli.py", "test_adapters_craftax_brax.py",
    "test_docs.py", "test_init.py", "test_data_parallel.py", "test_dqn.py", "test_adapters_arcade_pobax.py",
    "test_guide.py", "test_sac_memory.py", "test_sac.py", "test_presets.py", "test_adapters_navix_xminigrid.py",
    "test_diagnostics.py", "test_pqn.py", "test_benchmark.py",
)  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "optimized: its programs run long (an agent trained until it learns); compile them at level 1")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Optimisation level 1 for a test marked ``optimized``, 0 for the others: set before its fixtures, for its subprocesses too.

    A module-scoped fixture is built at the level of the first test that asks for it.
    """
    import jax  # here, not above: the settings must be in the environment before jax is first imported

    optimized = item.get_closest_marker("optimized") is not None
    os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "0" if optimized else "1"
    jax.config.update("jax_disable_most_optimizations", not optimized)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


MAPPINGS_LIMIT = 20_000  # a third of Linux's default vm.max_map_count, 65,530


def mappings() -> int:
    """The memory regions this process has mapped (0 where /proc is not)."""
    try:
        with open("/proc/self/maps") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return 0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Drops JAX's compiled programs after a test module, or a test that leaves over MAPPINGS_LIMIT regions mapped.

    XLA:CPU maps the code of each kernel it compiles into regions of its own
    (about 1,200 for a small PPO's init and train), and JAX keeps every program
    a process compiled. An xdist worker that ran half the suite held over 65,530
    regions, Linux's limit (vm.max_map_count); its next compilation failed to map
    memory and XLA aborted the worker without a message. A dropped program that
    is used again is read back from the run's compilation cache.
    """
    result = yield
    if nextitem is None or nextitem.module is not item.module or mappings() > MAPPINGS_LIMIT:
        import jax  # here, not above: the settings must be in the environment before jax is first imported

        jax.clear_caches()
        gc.collect()
    return result
