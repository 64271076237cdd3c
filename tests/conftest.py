"""Settings of a test run that make it compile less and faster; none changes what a test computes.

pytest loads this file before any test module imports jax, in the main
process, and the xdist workers and the command-line tests' subprocesses
inherit its environment:

- one JAX compilation cache per run, in a temporary directory, so a program
  compiled by one worker or subprocess (the same PPO in the CLI tests, say)
  is compiled once per run. A new directory per run keeps the suite's time
  that of a fresh clone.
- LLVM's expensive optimisation passes are skipped: most tests run a
  program once or a few times, and compiling dominates their time.
"""

import atexit
import os
import shutil
import tempfile

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    cache = tempfile.mkdtemp(prefix="memorax-tests-jax-cache-")
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = cache
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    os.environ["XLA_FLAGS"] = (
        f"{os.environ.get('XLA_FLAGS', '')} --xla_llvm_disable_expensive_passes=true"
    ).strip()
