"""The memory proof the algorithm tests share: the same agent with a GRU torso and with an MLP torso."""

import jax


def returns_with_and_without_memory(make_agent, num_steps):
    """Trains ``make_agent(torso)`` for torso "gru" and "mlp" with the same keys; each one's mean return over 64 evaluation episodes."""
    results = {}
    for torso in ("gru", "mlp"):
        agent = make_agent(torso)
        state, _ = agent.train(jax.random.key(1), agent.init(jax.random.key(0)), num_steps)
        results[torso] = agent.evaluate(jax.random.key(2), state, num_episodes=64)["mean_return"]
    return results
