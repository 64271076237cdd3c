"""The memory proofs the algorithm tests share: what a GRU agent reaches, and the same agent with an MLP torso.

On RepeatPrevious-Easy no memoryless policy beats the random return -0.5: the
card to name is dealt four steps before the one in view, and the oracle's
action is not a function of the observation (test_environments.py checks
that; the demo's test trains an MLP that only guesses). So a GRU agent's
return of 0.9 there is memory at work, and those tests train only the GRU.
Where a memoryless policy can do part of the task (Pendulum without its
velocity), the test trains the MLP too.
"""

import jax


def trained_return(agent, num_steps):
    """``agent`` trained for ``num_steps`` from key 0; its mean return over 64 evaluation episodes."""
    state, _ = agent.train(jax.random.key(1), agent.init(jax.random.key(0)), num_steps)
    return agent.evaluate(jax.random.key(2), state, num_episodes=64)["mean_return"]


def returns_with_and_without_memory(make_agent, num_steps):
    """Trains ``make_agent(torso)`` for torso "gru" and "mlp" with the same keys; each one's mean return."""
    return {torso: trained_return(make_agent(torso), num_steps) for torso in ("gru", "mlp")}
