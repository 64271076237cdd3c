"""DelayedObservation: the agent sees the observation of ``delay`` steps ago."""

from __future__ import annotations

from typing import Any

import jax

from memorax.environments.wrappers.observation_history import ObservationHistory


class DelayedObservation(ObservationHistory):
    """Shows ``o_{max(t - delay, 0)}`` at step ``t`` of an episode instead of ``o_t``.

    An episode's first ``delay`` steps show its reset observation ``o_0``
    again: no observation of the previous episode leaks into the next, and
    nothing appears that the environment could not have shown (zeros might
    be a legal observation, or lie outside the space). ``delay = 0`` changes
    nothing. ``info["final_observation"]`` is ``o_{T - delay}`` of the ended
    episode, as the agent would have seen it at its last step. The
    observation space is the wrapped one.
    """

    def __init__(self, env: Any, delay: int):
        if not isinstance(delay, int) or delay < 0:
            raise ValueError(f"DelayedObservation: delay is {delay!r}; expected an integer number of steps >= 0.")
        super().__init__(env, length=delay + 1)
        self.delay = delay

    def view(self, window: jax.Array) -> jax.Array:
        return window[0]
