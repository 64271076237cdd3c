"""``memorax diagnose RUN_DIR``: the memory horizon of a run's trained policy, as a plot, a JSON and a summary."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import matplotlib

matplotlib.use("Agg")  # files only: runs happen on machines without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from memorax.algorithms import PPO, SAC  # noqa: E402
from memorax.diagnostics import MemoryHorizon, memory_horizon, random_rollout  # noqa: E402
from memorax.environments import make  # noqa: E402
from memorax.training.run import load  # noqa: E402


def policy_network(agent, params: nnx.State) -> nnx.Module:
    """The network that acts: PPO's and SAC's actor, PQN's and DQN's Q-network."""
    model = agent.model(params)
    if isinstance(agent, PPO):
        return model.actor
    if isinstance(agent, SAC):
        return model[0]
    return model


def plot_horizons(horizons: dict[str, MemoryHorizon], path: Path, title: str) -> None:
    """Relative sensitivity against lag, one line per entry, with the threshold."""
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for label, horizon in horizons.items():
        axis.plot(np.arange(len(horizon.relative)), horizon.relative, marker="o", label=f"{label}: horizon {horizon.horizon}")
    axis.axhline(next(iter(horizons.values())).threshold, color="gray", linestyle="--", linewidth=1, label="threshold")
    axis.set_xlabel("lag k (steps back)")
    axis.set_ylabel("relative sensitivity of the output to o(t-k)")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def diagnose_run(directory: Path, max_lag: int = 16, num_envs: int = 16, num_steps: int = 128, seed: int = 0) -> dict:
    """The memory horizon of each seed of a run's latest checkpoint, over ``num_envs`` sequences of ``num_steps``
    steps of the run's environment under random actions. Writes ``diagnostics/horizon.png`` and
    ``diagnostics/diagnostics.json`` in the run directory and returns what the JSON holds."""
    options, agent, state, progress = load(directory)
    env, env_params = make(options.env)
    rollout_key, probe_key = jax.random.split(jax.random.key(seed))
    inputs = random_rollout(env, env_params, rollout_key, num_envs, num_steps)
    seeds = list(range(options.seed, options.seed + options.seeds))
    horizons = {}
    for index, value in enumerate(seeds):
        params = jax.tree.map(lambda leaf: leaf[index], state.params) if options.seeds > 1 else state.params
        horizons[f"seed {value}"] = memory_horizon(policy_network(agent, params), inputs, probe_key, max_lag=max_lag)
    output = Path(directory) / "diagnostics"
    output.mkdir(exist_ok=True)
    title = f"{options.algorithm.upper()}-{options.torso.kind} on {options.env}, {progress['env_steps']:,} steps"
    plot_horizons(horizons, output / "horizon.png", title)
    record = dict(
        env=options.env,
        env_steps=progress["env_steps"],
        rollout=dict(num_envs=num_envs, num_steps=num_steps, actions="uniformly random"),
        memory_horizon={
            label: dict(
                peak=h.peak, horizon=h.horizon, threshold=h.threshold, sensitivity=h.sensitivity.tolist(), relative=h.relative.tolist()
            )
            for label, h in horizons.items()
        },
    )
    (output / "diagnostics.json").write_text(json.dumps(record, indent=2))
    return record


def summary(record: dict) -> str:
    """A few lines for the terminal."""
    lines = [f"memory horizon of {record['env']} policy after {record['env_steps']:,} steps (diagnostics/horizon.png):"]
    for label, horizon in record["memory_horizon"].items():
        lines.append(
            f"  {label}: most sensitive to the observation {horizon['peak']} steps back; looks back "
            f"{horizon['horizon']} steps (relative sensitivity >= {horizon['threshold']})"
        )
    return "\n".join(lines)
