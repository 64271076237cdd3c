"""The demo's memory task separates memory from no memory."""

from memorax.demo import TORSOS, train


def test_gru_recalls_and_mlp_guesses():
    _, gru_accuracy, _ = train(TORSOS["gru"](), steps=150)
    _, mlp_accuracy, _ = train(TORSOS["mlp (no memory)"](), steps=150)
    assert gru_accuracy > 0.95
    assert mlp_accuracy < 0.4
