"""``memorax diagnose RUN_DIR``: the memory horizon of a run's trained policy and, for one-hot observations, linear probes
of its carry; as plots, a JSON and a summary."""

from __future__ import annotations

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
from memorax.files import write_json  # noqa: E402
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


def plot_probes(accuracies: dict[str, list[float]], baseline: list[float], path: Path, title: str) -> None:
    """Probe accuracy against lag, one line per network, with the best constant guess at each lag."""
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for label, values in accuracies.items():
        axis.plot(np.arange(len(values)), values, marker="o", label=label, linestyle="--" if label == "untrained" else "-")
    axis.plot(np.arange(len(baseline)), baseline, color="gray", linestyle=":", linewidth=1, label="best constant guess")
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


def json_values(values) -> list[float | None]:
    """``values`` for JSON, which has no NaN: None where nothing was measured."""
    return [None if np.isnan(value) else float(value) for value in values]


def diagnose_run(directory: Path, max_lag: int = 16, num_envs: int = 16, num_steps: int = 128, seed: int = 0) -> dict:
    """The memory horizon of each seed of a run's latest checkpoint, over ``num_envs`` sequences of ``num_steps``
    steps of the run's environment, played by the first seed's policy (sampling a policy's actions, a Q-network's
    greedy ones). Writes
    ``diagnostics/horizon.png`` and ``diagnostics/diagnostics.json`` in the run directory and returns what the JSON
    holds.

    With one-hot observations it also probes the carry: for each lag ``k``, the
    held-out accuracy of a linear classifier reading the observation ``k``
    steps back from the carry after step ``t`` (``diagnostics/probe.png``),
    next to the same probe on the carry of an untrained network (drawn with
    ``key(seed)``) and the best constant guess. Lags longer than every episode
    played are left unmeasured: None in the JSON, gaps in the plots. For the built-in tasks that say what must be remembered
    (:func:`~memorax.diagnostics.hidden_state_labels`) it probes that too, next to the best constant guess."""
    if num_envs < 2:  # the probes fit on half of the sequences and score on the other half
        raise ValueError(f"--num-envs is {num_envs}; expected 2 or more.")
    if num_steps < 1:
        raise ValueError(f"--num-steps is {num_steps}; expected 1 or more.")
    if seed < 0:  # jax.random.key(-1) is key(2**32 - 1), as for train's --seed
        raise ValueError(f"--seed is {seed}; expected 0 or more.")
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
    acting = "sampled from the policy" if isinstance(agent, (PPO, SAC)) else "the greedy actions of the Q-network"
    output = Path(directory) / "diagnostics"
    output.mkdir(exist_ok=True)
    title = f"{options.algorithm.upper()}-{'-'.join(options.torso.kinds)} on {options.env}, {progress['env_steps']:,} steps"
    plot_horizons(horizons, output / "horizon.png", title)
    record = dict(
        env=options.env,
        env_steps=progress["env_steps"],
        rollout=dict(num_envs=num_envs, num_steps=num_steps, actions=f"{acting} of seed {options.seed}"),
        memory_horizon={
            label: dict(
                peak=h.peak,
                horizon=h.horizon,
                threshold=h.threshold,
                sensitivity=json_values(h.sensitivity),
                relative=json_values(h.relative),
                pairs=h.pairs.tolist(),
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
        # The most common class k steps back, not 1/classes: most of TMaze's observations are "corridor".
        baseline = [baseline_accuracy(*remembered_observation(inputs, lag)) for lag in range(max_lag + 1)]
        plot_probes(accuracies, baseline, output / "probe.png", title)
        record["probe"] = dict(baseline=json_values(baseline), accuracy={label: json_values(v) for label, v in accuracies.items()})
    if hidden is not None:
        hidden_accuracy = {label: probe_accuracy(carried, *hidden) for label, carried in features.items()}
        record["hidden_state_probe"] = dict(
            baseline=json_values([baseline_accuracy(*hidden)])[0], accuracy=dict(zip(hidden_accuracy, json_values(hidden_accuracy.values())))
        )
    write_json(output / "diagnostics.json", record, allow_nan=False)
    return record


def described(accuracy: float | None) -> str:
    """An accuracy in the summary: two decimals, or "none" where nothing was measured."""
    return "none" if accuracy is None else f"{accuracy:.2f}"


def summary(record: dict) -> str:
    """A few lines for the terminal."""
    lines = [f"memory horizon of {record['env']} policy after {record['env_steps']:,} steps (diagnostics/horizon.png):"]
    for label, horizon in record["memory_horizon"].items():
        measured = max(lag for lag, pairs in enumerate(horizon["pairs"]) if pairs)  # the longest lag inside an episode played
        if horizon["horizon"] < measured:
            reach = f"{horizon['horizon']} steps"
        elif measured == len(horizon["pairs"]) - 1:
            reach = f"at least {horizon['horizon']} steps (the largest --max-lag measured)"
        else:
            reach = f"at least {horizon['horizon']} steps (no episode played was longer, to measure further)"
        lines.append(
            f"  {label}: most sensitive to the observation {horizon['peak']} steps back; looks back "
            f"{reach} (relative sensitivity >= {horizon['threshold']})"
        )
    if "probe" in record:
        lines.append("linear probes of the carry (diagnostics/probe.png), accuracy of reading the observation k steps back:")
        for label, values in record["probe"]["accuracy"].items():
            shown = ", ".join(f"k={k} {described(value)}" for k, value in enumerate(values[:6]))
            lines.append(f"  {label}: {shown}" + (" ..." if len(values) > 6 else ""))
    if "hidden_state_probe" in record:
        probe = record["hidden_state_probe"]
        accuracies = ", ".join(f"{label} {described(value)}" for label, value in probe["accuracy"].items())
        lines.append(
            f"linear probe of what the task asks to remember, read from the carry: {accuracies} "
            f"(best constant guess {described(probe['baseline'])})"
        )
    return "\n".join(lines)
