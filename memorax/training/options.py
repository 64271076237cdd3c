"""What a training run is made of, as typed dataclasses: the command line's options and ``config.json``."""

from __future__ import annotations

import ast
import dataclasses
import itertools
import json
import math
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import tyro

from memorax.algorithms import DQNConfig, PPOConfig, PQNConfig, SACConfig
from memorax.loggers.wandb import require_wandb

Algorithm = Literal["ppo", "pqn", "dqn", "sac"]
PPO_RATE = 3e-3
# PPO's default rate for a torso holding one of these kinds (the lowest of its kinds' rates): at PPO_RATE the LRU and the
# FFM learned RepeatFirst-Easy and lost it again; at these rates they hold it, and do as well or better on the other
# tasks measured, but for the FFM's CountRecall-Easy (docs/benchmarks.md).
PPO_KIND_RATES = {"lru": 1e-3, "ffm": 2e-3}
HEADED_KINDS = ("attention", "linear_attention", "deltanet", "gated_deltanet", "mlstm", "slstm")  # split --torso.hidden into heads
TorsoKind = Literal["mlp", "lstm", "gru", "mingru", "minlstm", "mamba", "mamba2", "s5", "lru", "attention", "linear_attention", "ffm", "deltanet", "gated_deltanet", "mlstm", "slstm"]
EncoderKind = Literal["auto", "mlp", "cnn"]
LoggerKind = Literal["console", "tensorboard", "wandb"]
EvalPolicy = Literal["greedy", "sampled"]
DescribedDefault = tyro.conf.arg(help_behavior_hint="")  # a field whose help says its default: tyro's "(default: None)" would repeat it


# The command line's configs are the algorithms' own, with total_timesteps hidden: the run's --total-steps sets it.
@dataclasses.dataclass(frozen=True)
class PPOOptions(PPOConfig):
    """PPO's hyper-parameters."""

    total_timesteps: tyro.conf.Suppress[int] = PPOConfig.total_timesteps


@dataclasses.dataclass(frozen=True)
class PQNOptions(PQNConfig):
    """PQN's hyper-parameters."""

    total_timesteps: tyro.conf.Suppress[int] = PQNConfig.total_timesteps


@dataclasses.dataclass(frozen=True)
class DQNOptions(DQNConfig):
    """DQN's hyper-parameters."""

    total_timesteps: tyro.conf.Suppress[int] = DQNConfig.total_timesteps


@dataclasses.dataclass(frozen=True)
class SACOptions(SACConfig):
    """SAC's hyper-parameters."""


@dataclasses.dataclass(frozen=True)
class EncoderOptions:
    """The observation encoder: an MLP, after the Nature-DQN convolutions for images."""

    kind: EncoderKind = "auto"
    """mlp (observations flattened), cnn (the Nature-DQN convolutions, then the MLP; observations [height, width,
    channels], at least 36 pixels a side) or auto: cnn for such images, mlp otherwise."""
    features: tuple[int, ...] = (64,)
    """Widths of the MLP's layers."""
    previous_action: bool = False
    """Also feed the network the previous action (one-hot when discrete; 0 at an episode's first step), through an MLP(16)."""
    previous_reward: bool = False
    """Also feed the network the previous reward (0 at an episode's first step), through an MLP(16)."""


@dataclasses.dataclass(frozen=True)
class TorsoOptions:
    """The sequence model between the encoder and the head."""

    kind: TorsoKind = "gru"
    """The model; mlp has no memory, the baseline to compare against."""
    hidden: int = 64
    """Its output width: even for s5, a multiple of 8 for mamba2."""
    stack: tuple[TorsoKind, ...] = ()
    """Instead of one model, a Stack of pre-norm residual blocks of these kinds, each followed by a
    pre-norm residual FFN, e.g. --torso.stack s5 attention; a dense layer first brings the torso's input to hidden
    when it has another width."""
    num_heads: int = 4
    """Heads of the headed kinds (attention, linear_attention, deltanet, gated_deltanet, mlstm, slstm); hidden must be divisible by it (for attention, into an even width per head)."""

    @property
    def kinds(self) -> tuple[TorsoKind, ...]:
        """The models the torso is built of: the stack's, else ``kind``."""
        return self.stack or (self.kind,)


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """Trains an agent on one environment, writing config.json, metrics.jsonl, curve.png and checkpoints to the run directory."""

    algorithm: Algorithm = "ppo"
    """The algorithm."""
    env: str = "memorax::RepeatPrevious-Easy"
    """Environment id: "memorax::Id" (the built-in suite), "gymnax::Id" or an adapted suite's ("navix::Id", "craftax::Id", ...)."""
    env_kwargs: tuple[str, ...] = ()
    """The environment's parameters as NAME=VALUE (VALUE a Python literal, else a string), passed to ``make``:
    e.g. max_timesteps=500 shortens craftax's time limit."""
    encoder: EncoderOptions = EncoderOptions()
    torso: TorsoOptions = TorsoOptions()
    total_steps: int = 400_000
    """Environment steps to train for (rounded up to whole logging intervals)."""
    learning_rate: Annotated[float | None, DescribedDefault] = None
    """The optimizer's learning rate: Adam for PPO, DQN and SAC, RAdam for PQN (default: 3e-3 for PPO, but 1e-3 for PPO
    with an LRU torso and 2e-3 with an FFM, which at 3e-3 learn a task and lose it again (docs/benchmarks.md); 1e-3
    otherwise)."""
    seed: int = 0
    """Seeds parameters, environments and exploration; the same seed gives the same run."""
    seeds: int = 1
    """Seeds to train at once, in one compiled program: seed, seed + 1, ...; each trains as it would alone."""
    devices: Annotated[int | None, DescribedDefault] = None
    """Devices to split the environments over, the first N of JAX's (default: all, or all a row of --seed-devices
    can have); see docs/scaling.md."""
    seed_devices: Annotated[int | None, DescribedDefault] = None
    """Rows of devices to split the seeds over, each training seeds / seed-devices of them with its --devices devices
    (default: 1); on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N devices (docs/scaling.md)."""
    run_dir: Annotated[Path | None, DescribedDefault] = None
    """Where the run's files go; it must not hold a run already (default: the first free runs/ALGORITHM-TORSO-ENV-sSEED[toLAST][-N])."""
    log_every: int = 20_000
    """Environment steps per logging interval (rounded up to whole rollouts): a log line, a checkpoint."""
    logger: tuple[LoggerKind, ...] = ("console",)
    """Where progress goes besides metrics.jsonl: console (a progress bar), tensorboard and/or wandb (Weights & Biases)."""
    eval_episodes: int = 64
    """Episodes of the final evaluation."""
    eval_policy: EvalPolicy = "greedy"
    """The final evaluation's policy: greedy (the policy's mode, or ε = 0), or sampled, as it acts at the end of
    training (PPO's and SAC's stochastic policy, ε-greedy at epsilon_finish for DQN and PQN): a greedy policy
    can loop until the time limit where only chance breaks a tie (LabyrinthExplore, Concentration)."""
    ppo: PPOOptions = PPOOptions(num_envs=32, num_steps=64, gamma=0.9, ent_coef=0.0)
    pqn: PQNOptions = PQNOptions(gamma=0.9)
    dqn: DQNOptions = DQNOptions(
        num_envs=16, buffer_size=50_000, batch_size=32, sequence_length=24, burn_in=4, stride=12,
        learning_starts=2_000, target_update_every=100, gamma=0.9, epsilon_decay=0.3,
    )  # fmt: skip
    sac: SACOptions = SACOptions(
        num_envs=8, batch_size=32, sequence_length=12, burn_in=4, stride=4, learning_starts=2_000, gamma=0.9
    )
    # Above: the command line's choices, as values rather than a second layer of defaults. They solve the
    # built-in card games in a few minutes on a CPU (short discounting, no entropy bonus), and give the replay
    # algorithms R2D2's sequences (24 steps, 4 of them burn-in, for DQN; 12 and 4 for SAC). The comment
    # follows the fields, as tyro would show one above a field as its help.

    def __post_init__(self):
        for name in ("total_steps", "seeds", "learning_rate", "log_every", "eval_episodes", "devices", "seed_devices"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:  # NaN too
                raise ValueError(f"--{name.replace('_', '-')} is {getattr(self, name)}; expected a positive value.")
        if self.seed < 0:  # jax.random.key(-1) is key(2**32 - 1): a negative seed would repeat another's runs
            raise ValueError(f"--seed is {self.seed}; expected 0 or more.")
        self.env_arguments  # parsing checks each NAME=VALUE
        if "wandb" in self.logger:  # before the run directory is made, not once it holds a config
            require_wandb()
        for name, value in (("--torso.hidden", self.torso.hidden), ("--torso.num-heads", self.torso.num_heads)):
            if value < 1:
                raise ValueError(f"{name} is {value}; expected 1 or more.")
        if not self.encoder.features or any(width < 1 for width in self.encoder.features):
            raise ValueError(f"--encoder.features is {list(self.encoder.features)}; expected positive widths.")
        kinds = self.torso.kinds
        if self.torso.hidden % self.torso.num_heads and any(kind in HEADED_KINDS for kind in kinds):
            raise ValueError(
                f"--torso.hidden ({self.torso.hidden}) must be divisible by --torso.num-heads ({self.torso.num_heads})."
            )
        hidden, heads = self.torso.hidden, self.torso.num_heads
        for kind, fits, expected in (  # the widths the models take, checked in the options' own terms
            ("s5", hidden % 2 == 0, "an even --torso.hidden for s5 (its states come in conjugate pairs)"),
            ("mamba2", 2 * hidden % 16 == 0, "a --torso.hidden that is a multiple of 8 for mamba2 (2 x hidden splits into heads of 16)"),
            ("attention", hidden // heads % 2 == 0, "an even --torso.hidden / --torso.num-heads for attention (rotary embedding)"),
        ):
            if kind in kinds and not fits:
                raise ValueError(f"--torso.hidden is {hidden} and --torso.num-heads {heads}; expected {expected}.")

    def check_learning_starts(self) -> None:
        """Raises a ValueError where a replay algorithm would never update; checked as a run or grid starts, not when
        a saved config is read back, so that a run an older memorax accepted still loads."""
        starts = getattr(getattr(self, self.algorithm), "learning_starts", None)
        if starts is not None and self.trained_steps < starts:  # the replay algorithms act at random until then
            raise ValueError(
                f"--total-steps is {self.total_steps} (trained as {self.trained_steps}, whole intervals); expected at least "
                f"--{self.algorithm}.learning-starts ({starts}), or the agent never updates."
            )

    def check_seed_devices(self) -> None:
        """Raises a ValueError unless --seeds divides by --seed-devices; checked as a run starts or resumes (a resume
        may change --seed-devices), not on parsing."""
        if self.seeds % (self.seed_devices or 1):
            raise ValueError(
                f"--seeds ({self.seeds}) must be divisible by --seed-devices ({self.seed_devices}): each row trains an equal share."
            )

    @property
    def interval_steps(self) -> int:
        """Environment steps per logging interval: ``log_every`` rounded up to whole rollouts."""
        rollout = getattr(self, self.algorithm).rollout_size
        return math.ceil(self.log_every / rollout) * rollout

    @property
    def trained_steps(self) -> int:
        """Environment steps the run trains: ``total_steps`` rounded up to whole intervals."""
        return math.ceil(self.total_steps / self.interval_steps) * self.interval_steps

    @property
    def algorithm_config(self) -> PPOConfig | PQNConfig | DQNConfig | SACConfig:
        """The chosen algorithm's config; its schedules (learning rate, ε) run over the steps the run trains."""
        config = getattr(self, self.algorithm)
        if hasattr(config, "total_timesteps"):
            config = dataclasses.replace(config, total_timesteps=self.trained_steps)
        return config

    @property
    def env_arguments(self) -> dict[str, Any]:
        """``env_kwargs`` as ``make``'s keyword arguments."""
        arguments = {}
        for pair in self.env_kwargs:
            name, separator, text = pair.partition("=")
            if not separator or not name.isidentifier():
                raise ValueError(f"--env-kwargs has {pair!r}; expected NAME=VALUE, e.g. max_timesteps=500.")
            try:
                arguments[name] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                arguments[name] = text
        return arguments

    @property
    def optimizer_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        if self.algorithm != "ppo":
            return 1e-3
        return min(PPO_KIND_RATES.get(kind, PPO_RATE) for kind in self.torso.kinds)

    @property
    def directory(self) -> Path:
        """``run_dir``, or the first free ``runs/ALGORITHM-TORSO-ENV-sSEED[toLAST][-N]``."""
        if self.run_dir is not None:
            return self.run_dir
        torso = "-".join(self.torso.kinds)
        seeds = f"s{self.seed}" + (f"to{self.seed + self.seeds - 1}" if self.seeds > 1 else "")
        base = Path("runs") / f"{self.algorithm}-{torso}-{self.env.split('::')[-1]}-{seeds}"
        candidates = (base.with_name(f"{base.name}-{n}") if n > 1 else base for n in itertools.count(1))
        return next(path for path in candidates if not path.exists())

    def to_json(self) -> str:
        fields = dataclasses.asdict(self)
        fields["run_dir"] = None if self.run_dir is None else str(self.run_dir)
        return json.dumps(fields, indent=2)

    @classmethod
    def from_json(cls, text: str) -> TrainOptions:
        """The options ``to_json`` wrote; fields a run's config.json lacks (written by an older memorax) take their defaults."""
        return from_fields(cls, json.loads(text))


def from_fields(cls: type, fields: dict):
    """The dataclass ``cls`` from its ``dataclasses.asdict`` fields: nested dataclasses built again, lists as tuples, paths as Paths.

    Raises:
      ValueError: naming the fields ``cls`` does not have (options written by a newer memorax, say).
    """
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(fields) - {field.name for field in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {unknown}: were these options written by another version of memorax?")
    values = {}
    for name, value in fields.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            value = from_fields(hint, value)
        elif isinstance(value, list):
            value = tuple(value)
        elif value is not None and Path in (hint, *typing.get_args(hint)):
            value = Path(value)
        values[name] = value
    return cls(**values)
