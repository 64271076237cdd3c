"""Environment steps per second of every built-in task (and gymnax CartPole) with random actions.

Usage: python bench/environments.py [--steps 1000] [--envs 1 64 1024] [--only RepeatPrevious]

Each measurement is one jitted ``lax.scan`` of ``steps`` vectorised steps
(random actions, auto-reset) over ``envs`` parallel environments, timed after
compilation; steps/s counts every environment's steps. The scan returns the
sum of rewards and observations so that no part of the step can be compiled away.
"""

from __future__ import annotations

import argparse
import platform
import time

import jax

from memorax.environments import make, memorax_ids


def steps_per_second(env_id: str, num_envs: int, steps: int) -> float:
    env, params = make(env_id)
    space = env.action_space(params)

    @jax.jit
    def run(key):
        obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(key, num_envs), params)

        def step(state, key):
            act_key, step_key = jax.random.split(key)
            actions = jax.vmap(space.sample)(jax.random.split(act_key, num_envs))
            obs, state, reward, *_ = jax.vmap(env.step, (0, 0, 0, None))(jax.random.split(step_key, num_envs), state, actions, params)
            # Returning what depends on the observation too keeps XLA from dropping the dynamics.
            return state, reward.sum() + obs.sum()

        return jax.lax.scan(step, state, jax.random.split(key, steps))[1]

    key = jax.random.key(0)
    jax.block_until_ready(run(key))
    start = time.perf_counter()
    jax.block_until_ready(run(jax.random.key(1)))
    return num_envs * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--only", default="", help="run only the ids containing this text")
    args = parser.parse_args()
    ids = [f"memorax::{i}" for i in memorax_ids()] + ["gymnax::CartPole-v1"]
    print(f"# {jax.devices()[0].device_kind}, {platform.machine()}, jax {jax.__version__}; {args.steps} steps, random actions")
    print("| environment | " + " | ".join(f"{n} envs" for n in args.envs) + " |")
    print("| --- |" + " ---: |" * len(args.envs))
    for env_id in ids:
        if args.only not in env_id:
            continue
        rates = [steps_per_second(env_id, n, args.steps) for n in args.envs]
        print(f"| {env_id} | " + " | ".join(f"{r:,.0f}" for r in rates) + " |", flush=True)


if __name__ == "__main__":
    main()
