"""Presets: option values chosen from evidence for a family of tasks; options given explicitly override them.

``memorax train --preset popgym`` starts from :func:`popgym`'s values instead of
the command line's defaults; in Python, ``with_preset(TrainOptions(), "popgym")``.
docs/benchmarks.md holds the runs that chose each value.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, TypeVar

from memorax.environments.registry import builtin_task
from memorax.training.options import TrainOptions

Options = TypeVar("Options", bound=TrainOptions)
Preset = Literal["popgym"]


# POPGym's control tasks: they pay for keeping the pole up, step after step, so only a long horizon sees
# what an action is worth.
CONTROL_TASKS = ("StatelessCartPole", "NoisyStatelessCartPole", "VelocityOnlyCartPole", "PositionOnlyPendulum", "NoisyPositionOnlyPendulum")


def is_control_task(env_id: str) -> bool:
    """Whether ``env_id`` (e.g. ``memorax::StatelessCartPole-Easy``, or POPGym's alias ``PositionOnlyCartPole``) is a control task."""
    return builtin_task(env_id) in CONTROL_TASKS


def popgym(options: Options) -> Options:
    """The POPGym suite's preset: a horizon for the task, wider networks, and the previous action and reward as inputs.

    Most POPGym tasks pay for an answer about the past on the step it is
    given, and the actions do not change what is shown next (the card and
    counting games), so a short discount (γ = 0.1) spares the value estimates the
    noise of later steps. The control tasks (:data:`CONTROL_TASKS`) pay for balance
    held over many steps and get γ = 0.99; a benchmark grid gets it only when
    all its tasks are control tasks. The previous action and reward tell the
    network what it answered and whether it was right (the POPGym paper's
    agents see the previous action); the encoder and the sequence model are
    128 wide. The preset reads ``options.env``: set the task before applying
    it. PPO's values and the γ of PQN, DQN and SAC were chosen by runs
    (docs/benchmarks.md); SAC's γ 0.99 on the control tasks follows the others', unmeasured.
    """
    envs = (options.env,) if isinstance(options.env, str) else options.env
    gamma = 0.99 if all(is_control_task(env) for env in envs) else 0.1
    return dataclasses.replace(
        options,
        encoder=dataclasses.replace(options.encoder, features=(128,), previous_action=True, previous_reward=True),
        torso=dataclasses.replace(options.torso, hidden=128),
        ppo=dataclasses.replace(options.ppo, gamma=gamma),
        pqn=dataclasses.replace(options.pqn, gamma=gamma),
        dqn=dataclasses.replace(options.dqn, gamma=gamma),
        sac=dataclasses.replace(options.sac, gamma=gamma),
    )


PRESETS = {"popgym": popgym}


def with_preset(options: Options, preset: Preset | None) -> Options:
    """``options`` with the values of ``preset`` (unchanged for ``None``)."""
    if preset is None:
        return options
    if preset not in PRESETS:
        raise ValueError(f"preset {preset!r} is unknown; expected one of {sorted(PRESETS)}.")
    return PRESETS[preset](options)
