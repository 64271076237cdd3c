"""The demo's memory task separates memory from no memory."""

import pytest

from memorax.demo import TORSOS, train


@pytest.mark.optimized
@pytest.mark.parametrize("torso, steps", [("gru", 150), ("ffm", 400)])  # FFM's default periods (1 to 1024) learn a lag of 2 slower
def test_memory_recalls(torso, steps):
    _, accuracy, _ = train(TORSOS[torso](), steps=steps)
    assert accuracy > 0.95


def test_mlp_guesses():
    _, accuracy, _ = train(TORSOS["mlp (no memory)"](), steps=150)
    assert accuracy < 0.4
