"""brax::Id: the MuJoCo-style tasks of brax (tested with 0.14.2), and their position-only / velocity-only POMDPs."""

from __future__ import annotations

from typing import Any

import brax.envs
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces
from gymnax.environments.environment import EnvParams

from memorax.environments.adapters.adapter import Adapter
from memorax.environments.wrappers import MaskObservation

# Where each task's observation (brax's default ``_get_obs``) shows positions and where velocities: a position
# entry is a function of the joint positions q alone, a velocity entry depends on the joint velocities qd
# (found by moving each entry of qd; tests/test_adapters_craftax_brax.py repeats this for reacher). humanoid and
# humanoidstandup are not split: their observations add centre-of-mass inertias and velocities and the actuator
# forces of the last action.
POSITION_INDICES = {
    "ant": range(0, 13),  # q[2:]: torso height, torso quaternion (4), 8 hip and ankle angles
    "halfcheetah": range(0, 8),  # q[1:]: root height, root pitch, 6 joint angles
    "hopper": range(0, 5),  # torso height, root pitch, thigh, leg, foot angles
    "walker2d": range(0, 8),  # torso height, root pitch, 6 joint angles
    "inverted_pendulum": range(0, 2),  # cart position, pole angle
    "inverted_double_pendulum": range(0, 5),  # cart position, sin and cos of both pole angles
    "reacher": (0, 1, 2, 3, 4, 5, 8, 9, 10),  # cos, sin of both joints, target x, y, fingertip - target (3)
    "swimmer": range(0, 3),  # q[2:]: body angle, 2 joint angles
    "pusher": (*range(0, 7), *range(14, 23)),  # 7 arm joint angles; fingertip, object, goal positions (3 each)
}
VELOCITY_INDICES = {
    "ant": range(13, 27),  # qd: torso linear (3) and angular (3) velocity, 8 joint velocities
    "halfcheetah": range(8, 17),  # qd: root x, z, pitch velocities, 6 joint velocities
    "hopper": range(5, 11),  # qd clipped to [-10, 10]
    "walker2d": range(8, 17),  # qd clipped to [-10, 10]
    "inverted_pendulum": range(2, 4),  # cart velocity, pole angular velocity
    "inverted_double_pendulum": range(5, 8),  # qd clipped to [-10, 10]
    "reacher": (6, 7),  # fingertip x, y velocity
    "swimmer": range(3, 8),  # qd
    "pusher": range(7, 14),  # 7 arm joint velocities
}
SPLIT_TASKS = tuple(POSITION_INDICES)
WHOLE_TASKS = ("humanoid", "humanoidstandup")
PARTS = {"P": POSITION_INDICES, "V": VELOCITY_INDICES}  # id suffix -> the entries it keeps


@struct.dataclass
class BraxState:
    """brax's ``State`` of the episode and the number of steps taken in it."""

    brax_state: brax.envs.State
    time: jax.Array


class Brax(Adapter):
    """A brax task with gymnax's interface and brax's own dynamics, rewards and terminations.

    Observations are brax's, float32 ``[observation_size]`` in ``Box(-inf, inf)``. Actions are
    ``Box(-1, 1, (action_size,))``, brax's convention for every task: its agents squash actions
    with tanh, and each task either rescales ``[-1, 1]`` to its actuators' control range
    (inverted_pendulum, pusher, humanoid) or has control range ``[-1, 1]``. Actions are clipped into
    ``[-1, 1]`` before brax sees them; brax would clip the control too but charge its control cost
    on the unclipped action, which punishes a Gaussian policy for samples it never executes.
    ``step`` raises a ValueError for an action of another shape, or not finite, when called eagerly.

    ``terminated`` is brax's ``done`` (an unhealthy hopper, walker or ant, a fallen pendulum); brax
    tasks have no time limit of their own, so ``truncated = time >= params.max_steps_in_episode``,
    as brax's ``EpisodeWrapper`` (``info["truncation"]``) counts steps. Where brax's
    ``AutoResetWrapper`` restarts every episode from the first one's start, memorax's auto-reset
    draws a new start from ``reset``'s key.
    """

    def __init__(self, env_id: str, env: brax.envs.Env, episode_length: int):
        self.env_id = env_id
        self.env = env
        self.default_params = EnvParams(max_steps_in_episode=episode_length)
        self.observation_size = jax.eval_shape(env.reset, jax.random.key(0)).obs.shape[-1]

    def reset_episode(self, key: jax.Array, params: EnvParams):
        brax_state = self.env.reset(key)
        return brax_state.obs.astype(jnp.float32), BraxState(brax_state, jnp.int32(0))

    def step_episode(self, key: jax.Array, state: BraxState, action: jax.Array, params: EnvParams):
        brax_state = self.env.step(state.brax_state, jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0))
        time = state.time + 1
        terminated = brax_state.done.astype(bool)
        truncated = time >= params.max_steps_in_episode
        return brax_state.obs.astype(jnp.float32), BraxState(brax_state, time), brax_state.reward, terminated, truncated, {}

    def check_action(self, values: np.ndarray, params: Any) -> None:
        """Raises a ValueError naming the space if ``values`` is not ``action_size`` finite floats."""
        size = self.env.action_size
        if values.shape != (size,) or values.dtype.kind != "f" or not np.all(np.isfinite(values)):
            raise ValueError(
                f"{self.name}: action {values.tolist()} is outside the action space Box(-1, 1, ({size},)); "
                f"expected {size} finite floats (values beyond ±1 are clipped)."
            )

    def observation_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (self.observation_size,), jnp.float32)

    def action_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self.env.action_size,), jnp.float32)

    @property
    def name(self) -> str:
        return f"brax::{self.env_id}"


def ids() -> list[str]:
    """Every task, and ``<task>-P`` (positions only) and ``<task>-V`` (velocities only) of those split above."""
    masked = [f"{task}-{part}" for task in SPLIT_TASKS for part in PARTS]
    return [*SPLIT_TASKS, *WHOLE_TASKS, *masked]


def make(env_id: str, episode_length: int = 1000, **kwargs: Any) -> tuple[Brax | MaskObservation, EnvParams]:
    """The brax task ``env_id`` behind memorax's interface: ``(env, env_params)``.

    ``<task>-P`` keeps only the observation entries of ``POSITION_INDICES[task]`` and ``<task>-V``
    those of ``VELOCITY_INDICES[task]``: the masked-position and masked-velocity MuJoCo tasks of
    Ni et al. 2022 (arXiv:2110.05038) and POBAX, with indices read from brax's observation code.

    Args:
      env_id: one of :func:`ids`.
      episode_length: the time limit, ``params.max_steps_in_episode`` (brax's default, 1000).
      kwargs: go to brax's constructor of the task (``backend``, default ``"generalized"``; reward
        weights; ...). Masked ids need the default observation layout.
    """
    task, _, part = env_id.partition("-")
    if episode_length < 1:
        raise ValueError(f"make: brax {env_id} has episode_length {episode_length}; expected a positive number of steps.")
    env = Brax(env_id, brax.envs.get_environment(task, **kwargs), episode_length)
    if not part:
        return env, env.default_params
    kept = PARTS[part][task]
    expected_size = len(POSITION_INDICES[task]) + len(VELOCITY_INDICES[task])
    if env.observation_size != expected_size:
        raise ValueError(
            f"make: brax {env_id} masks brax's default {task} observation of {expected_size} entries; the arguments "
            f"{sorted(kwargs)} give {env.observation_size}. Use {task} with memorax's MaskObservation instead."
        )
    return MaskObservation(env, indices=tuple(kept)), env.default_params
