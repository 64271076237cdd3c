"""``memorax diagnose RUN_DIR``: the memory horizon of a run's trained policy and, for one-hot observations, linear probes
of its carry; as plots, a JSON and a summary."""

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
from memorax.diagnostics import (  # noqa: E402
    MemoryHorizon,
    baseline_accuracy,
    carries,
    hidden_state_labels,
    memory_horizon,
    probe_accuracy,
    remembered_observation,
    rollout_with_states,
)
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
    axis.set_ylabel("relative sensitivity to o(t-k)")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_probes(accuracies: dict[str, list[float]], chance: float, path: Path, title: str) -> None:
    """Probe accuracy against lag, one line per network, with chance."""
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for label, values in accuracies.items():
        axis.plot(np.arange(len(values)), values, marker="o", label=label, linestyle="--" if label == "untrained" else "-")
    axis.axhline(chance, color="gray", linestyle=":", linewidth=1, label="chance")
    axis.set_xlabel("lag k (steps back)")
    axis.set_ylabel("probe accuracy for o(t-k)")
    axis.set_ylim(0, 1.02)
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def is_one_hot(observation: np.ndarray) -> bool:
    """Whether every observation is a single one-hot vector (RepeatPrevious, RepeatFirst, HigherLower; not CountRecall)."""
    flat = observation.reshape(*observation.shape[:2], -1)
    return bool(np.all((flat == 0) | (flat == 1)) and np.all(flat.sum(-1) == 1))


def probe_lags(features: np.ndarray, inputs, max_lag: int) -> list[float]:
    """Held-out accuracy of a linear probe reading the observation ``k`` steps back from the carries ``features``
    (:func:`~memorax.diagnostics.carries` over ``inputs``), for ``k = 0..max_lag``."""
    return [probe_accuracy(features, *remembered_observation(inputs, lag)) for lag in range(max_lag + 1)]


def diagnose_run(directory: Path, max_lag: int = 16, num_envs: int = 16, num_steps: int = 128, seed: int = 0) -> dict:
    """The memory horizon of each seed of a run's latest checkpoint, over ``num_envs`` sequences of ``num_steps``
    steps of the run's environment, played by the first seed's policy (sampling its actions). Writes
    ``diagnostics/horizon.png`` and ``diagnostics/diagnostics.json`` in the run directory and returns what the JSON
    holds.

    With one-hot observations it also probes the carry: for each lag ``k``, the
    held-out accuracy of a linear classifier reading the observation ``k``
    steps back from the carry after step ``t`` (``diagnostics/probe.png``),
    next to the same probe on the carry of an untrained network (drawn with
    ``key(seed)``). For the built-in tasks that say what must be remembered
    (:func:`~memorax.diagnostics.hidden_state_labels`) it probes that too, next to the best constant guess."""
    if num_envs < 2:  # the probes fit on half of the sequences and score on the other half
        raise ValueError(f"--num-envs is {num_envs}; expected 2 or more.")
    if num_steps < 1:
        raise ValueError(f"--num-steps is {num_steps}; expected 1 or more.")
    if not 0 <= max_lag < num_steps:
        raise ValueError(f"--max-lag is {max_lag}; expected 0 to {num_steps - 1}, below --num-steps ({num_steps}).")
    options, agent, state, progress = load(directory)
    env, env_params = make(options.env, **options.env_arguments)
    rollout_key, probe_key = jax.random.split(jax.random.key(seed))
    seeds = list(range(options.seed, options.seed + options.seeds))
    params = {
        f"seed {value}": jax.tree.map(lambda leaf: leaf[index], state.params) if options.seeds > 1 else state.params
        for index, value in enumerate(seeds)
    }
    player = policy_network(agent, next(iter(params.values())))
    inputs, states = rollout_with_states(env, env_params, rollout_key, num_envs, num_steps, policy=player)
    horizons = {label: memory_horizon(policy_network(agent, p), inputs, probe_key, max_lag=max_lag) for label, p in params.items()}
    output = Path(directory) / "diagnostics"
    output.mkdir(exist_ok=True)
    title = f"{options.algorithm.upper()}-{'-'.join(options.torso.kinds)} on {options.env}, {progress['env_steps']:,} steps"
    plot_horizons(horizons, output / "horizon.png", title)
    record = dict(
        env=options.env,
        env_steps=progress["env_steps"],
        rollout=dict(num_envs=num_envs, num_steps=num_steps, actions=f"sampled from the policy of seed {options.seed}"),
        memory_horizon={
            label: dict(
                peak=h.peak, horizon=h.horizon, threshold=h.threshold, sensitivity=h.sensitivity.tolist(), relative=h.relative.tolist()
            )
            for label, h in horizons.items()
        },
    )
    observation = np.asarray(inputs.obs)
    hidden = hidden_state_labels(env, states)
    if is_one_hot(observation) or hidden is not None:
        networks = {label: policy_network(agent, p) for label, p in params.items()}
        networks["untrained"] = policy_network(agent, agent.init(jax.random.key(seed)).params)
        features = {label: np.asarray(carries(network, inputs)) for label, network in networks.items()}
    if is_one_hot(observation):
        accuracies = {label: probe_lags(carried, inputs, max_lag) for label, carried in features.items()}
        chance = 1 / observation.reshape(*observation.shape[:2], -1).shape[-1]
        plot_probes(accuracies, chance, output / "probe.png", title)
        record["probe"] = dict(chance=chance, accuracy=accuracies)
    if hidden is not None:
        record["hidden_state_probe"] = dict(
            baseline=baseline_accuracy(*hidden), accuracy={label: probe_accuracy(carried, *hidden) for label, carried in features.items()}
        )
    (output / "diagnostics.json").write_text(json.dumps(record, indent=2))
    return record


def summary(record: dict) -> str:
    """A few lines for the terminal."""
    lines = [f"memory horizon of {record['env']} policy after {record['env_steps']:,} steps (diagnostics/horizon.png):"]
    for label, horizon in record["memory_horizon"].items():
        capped = horizon["horizon"] == len(horizon["relative"]) - 1  # sensitive up to the largest lag measured
        reach = f"at least {horizon['horizon']} steps (the largest --max-lag measured)" if capped else f"{horizon['horizon']} steps"
        lines.append(
            f"  {label}: most sensitive to the observation {horizon['peak']} steps back; looks back "
            f"{reach} (relative sensitivity >= {horizon['threshold']})"
        )
    if "probe" in record:
        lines.append("linear probes of the carry (diagnostics/probe.png), accuracy of reading the observation k steps back:")
        for label, values in record["probe"]["accuracy"].items():
            lines.append(f"  {label}: " + ", ".join(f"k={k} {v:.2f}" for k, v in enumerate(values[:6])) + (" ..." if len(values) > 6 else ""))
    if "hidden_state_probe" in record:
        probe = record["hidden_state_probe"]
        accuracies = ", ".join(f"{label} {value:.2f}" for label, value in probe["accuracy"].items())
        lines.append(
            f"linear probe of what the task asks to remember, read from the carry: {accuracies} (best constant guess {probe['baseline']:.2f})"
        )
    return "\n".join(lines)
