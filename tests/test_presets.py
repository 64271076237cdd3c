"""--preset popgym: explicit options override its values, and its GRU learns CountRecall-Easy where the MLP cannot."""

import dataclasses
import json

import pytest

from memorax.cli import parse
from memorax.training import TorsoOptions, TrainOptions, train
from memorax.training.presets import with_preset


def test_the_preset_sets_the_defaults_that_explicit_options_override():
    preset = with_preset(TrainOptions(), "popgym")
    assert preset != TrainOptions() and parse(["train", "--preset", "popgym"]).options == preset
    command = parse(["train", "--preset", "popgym", "--ppo.gamma", "0.5", "--torso.kind", "lstm"])
    assert command.options == dataclasses.replace(
        preset, ppo=dataclasses.replace(preset.ppo, gamma=0.5), torso=dataclasses.replace(preset.torso, kind="lstm")
    )
    assert parse(["train"]).options == TrainOptions()
    grid = parse(["benchmark", "--preset", "popgym", "--torso.kind", "mlp", "gru"]).options
    assert (grid.encoder, grid.ppo, grid.torso.hidden, grid.torso.kind) == (preset.encoder, preset.ppo, preset.torso.hidden, ("mlp", "gru"))
    with pytest.raises(ValueError, match=r"preset 'atari' is unknown; expected one of \['popgym'\]"):
        with_preset(TrainOptions(), "atari")


def test_the_preset_gives_the_control_tasks_a_long_horizon():
    """γ 0.99 on the CartPole and Pendulum tasks, 0.1 on the others; a grid only when all its tasks are control tasks."""
    control, cards = "memorax::StatelessCartPole-Easy", "memorax::CountRecall-Easy"
    gamma = lambda *args: parse([*args, "--preset", "popgym"]).options.ppo.gamma
    assert gamma("train", "--env", control) == 0.99 and gamma("train", "--env", cards) == 0.1
    for algorithm in ("pqn", "dqn", "sac"):
        options = lambda env: parse(["train", "--algorithm", algorithm, "--env", env, "--preset", "popgym"]).options
        assert (getattr(options(control), algorithm).gamma, getattr(options(cards), algorithm).gamma) == (0.99, 0.1)
    assert gamma("train", "--env", control, "--ppo.gamma", "0.5") == 0.5
    assert gamma("benchmark", "--env", control, "memorax::NoisyPositionOnlyPendulum-Hard") == 0.99
    assert gamma("benchmark", "--env", control, cards) == 0.1
    assert with_preset(TrainOptions(env=control), "popgym").ppo.gamma == 0.99
    assert with_preset(TrainOptions(env="memorax::NoisyPositionOnlyCartPole-Hard"), "popgym").ppo.gamma == 0.99  # POPGym's name
    assert with_preset(TrainOptions(env="gymnax::CartPole-v1"), "popgym").ppo.gamma == 0.1  # POPGym's own tasks only


def test_ppo_trains_the_lru_and_the_ffm_at_lower_rates_unless_one_is_given():
    """At PPO's 3e-3 the LRU and the FFM learned RepeatFirst-Easy and lost it again; at 1e-3 and 2e-3 they hold it.

    docs/benchmarks.md has the runs.
    """
    rate = lambda *args: parse(["train", *args]).options.optimizer_learning_rate
    assert rate() == rate("--torso.kind", "s5") == 3e-3
    assert rate("--torso.kind", "lru") == 1e-3 and rate("--torso.kind", "ffm") == 2e-3
    assert rate("--torso.kind", "lru", "--learning-rate", "3e-3") == 3e-3 and rate("--algorithm", "dqn") == 1e-3
    assert TrainOptions(torso=TorsoOptions(stack=("s5", "lru"))).optimizer_learning_rate == 1e-3
    assert TrainOptions(torso=TorsoOptions(stack=("ffm", "lru"))).optimizer_learning_rate == 1e-3  # the lowest of its kinds'
    grid = parse(["benchmark", "--preset", "popgym", "--torso.kind", "gru", "lru", "ffm"]).options
    assert [cell.optimizer_learning_rate for _, _, cell in grid.cells()] == [3e-3, 3e-3, 1e-3, 1e-3, 2e-3, 2e-3]


@pytest.mark.optimized
def test_the_presets_gru_learns_count_recall_where_the_mlp_cannot(tmp_path):
    """Two seeds each, 70,000 steps: every GRU seed's greedy return beats every MLP seed's by more than 0.3.

    CountRecall-Easy's returns lie in [-1, 1]; an MLP cannot count and stays near -0.9. Over seeds 0 to 3
    at this budget the GRU reached -0.46 to -0.51 (-0.57 to -0.69 at 50,000 steps, -0.37 to -0.44 at
    100,000) and the MLP, seeds 0 and 1, -0.91 and -0.93.
    """
    returns = {}
    for kind in ("mlp", "gru"):
        options = TrainOptions(
            env="memorax::CountRecall-Easy", torso=TorsoOptions(kind=kind), total_steps=70_000, log_every=70_000,
            seeds=2, logger=(), eval_episodes=32, run_dir=tmp_path / kind,
        )  # fmt: skip
        run = train(with_preset(options, "popgym"))
        returns[kind] = [seed["mean_return"] for seed in json.loads(run.evaluation.read_text())["seeds"]]
    assert min(returns["gru"]) > max(returns["mlp"]) + 0.3, returns
