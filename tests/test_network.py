"""Network: lazy init, parameter sharing, transforms, acting = training, and clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from memorax.networks import MLP, RNN, FeatureExtractor, Network, NotInitializedError, SequenceModelWrapper, heads, init
from memorax.networks.blocks import FFN
from memorax.networks.sequence_models import Mamba

B, T, OBS = 4, 6, 5
OBSERVATION = jax.random.normal(jax.random.key(0), (B, T, OBS))
DONE = jnp.zeros((B, T), bool).at[:, 0].set(True).at[1, 3].set(True)


def shared_pair():
    shared_feature_extractor = FeatureExtractor(observation_extractor=MLP(features=(64,)))
    shared_torso = SequenceModelWrapper(RNN(nnx.LSTMCell(64, 64, rngs=nnx.Rngs(0))))
    actor = Network(shared_feature_extractor, shared_torso, heads.Categorical(action_dim=4))
    critic = Network(shared_feature_extractor, shared_torso, heads.VNetwork())
    return actor, critic


class ActorCritic(nnx.Module):
    def __init__(self, actor, critic):
        self.actor = actor
        self.critic = critic


def count(module):
    return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def test_uninitialised_network_names_init():
    network = Network(FeatureExtractor(observation_extractor=MLP(features=(8,))), None, heads.VNetwork())
    with pytest.raises(NotInitializedError, match=r"network\.init"):
        network(OBSERVATION, DONE)


def test_init_is_reproducible_from_a_seed():
    a, b = (Network(FeatureExtractor(observation_extractor=MLP(features=(8,))), None, heads.VNetwork()) for _ in range(2))
    a.init(3, OBSERVATION, DONE)
    b.init(nnx.Rngs(3), OBSERVATION, DONE)
    jax.tree.map(np.testing.assert_array_equal, nnx.state(a), nnx.state(b))


def test_init_refuses_parameters_it_cannot_draw_again():
    # An eager layer would start every seed of a vmapped init, and both twin critics, from its own rngs' values.
    torso = SequenceModelWrapper(nnx.Linear(8, 8, rngs=nnx.Rngs(0)))
    network = Network(FeatureExtractor(observation_extractor=MLP(features=(8,))), torso, heads.VNetwork())
    with pytest.raises(ValueError, match=r"torso\.model\.bias, torso\.model\.kernel: parameters built eagerly"):
        network.init(0, OBSERVATION, DONE)


def test_shared_parameters_are_counted_once_and_built_once():
    actor, critic = shared_pair()
    actor.init(0, OBSERVATION, DONE)
    extractor = actor.feature_extractor.observation_extractor
    layers = extractor.layers
    critic.init(1, OBSERVATION, DONE)
    assert critic.feature_extractor.observation_extractor is extractor and extractor.in_features == OBS
    assert len(extractor.layers) == len(layers) and extractor.layers[0].kernel.shape == layers[0].kernel.shape

    both = ActorCritic(actor, critic)
    assert count(both) == count(actor) + count(critic.head)


def test_a_critic_gradient_step_changes_the_actor():
    actor, critic = shared_pair()
    actor.init(0, OBSERVATION, DONE)
    critic.init(1, OBSERVATION, DONE)
    before = actor(OBSERVATION, DONE)[1].logits
    optimizer = nnx.Optimizer(critic, optax.sgd(0.1), wrt=nnx.Param)
    grads = nnx.grad(lambda c: jnp.mean(c(OBSERVATION, DONE)[1] ** 2))(critic)
    optimizer.update(critic, grads)
    # Logits start near uniform (gain 0.01), so the change is small but must be there.
    assert np.abs(before - actor(OBSERVATION, DONE)[1].logits).max() > 1e-7


@pytest.fixture(scope="module")
def network():
    network = Network(
        FeatureExtractor(observation_extractor=MLP(features=(16,))),
        SequenceModelWrapper(Mamba(hidden_dim=16)),
        heads.Categorical(action_dim=3),
    )
    network.init(0, OBSERVATION, DONE)
    return network


def test_carry_none_is_the_initial_carry(network):
    a = network(OBSERVATION, DONE)
    b = network(OBSERVATION, DONE, network.initialize_carry(B))
    jax.tree.map(np.testing.assert_array_equal, a[0], b[0])
    np.testing.assert_array_equal(a[1].logits, b[1].logits)


def test_acting_step_by_step_equals_training_on_the_sequence(network):
    act = nnx.jit(lambda n, o, d, c: n(o, d, c))
    carry, logits = network.initialize_carry(B), []
    for t in range(T):
        carry, dist = act(network, OBSERVATION[:, t : t + 1], DONE[:, t : t + 1], carry)
        logits.append(dist.logits)
    _, dist = network(OBSERVATION, DONE)
    np.testing.assert_allclose(jnp.concatenate(logits, 1), dist.logits, rtol=1e-4, atol=1e-5)


def test_pure_function_through_split_and_merge(network):
    graphdef, state = nnx.split(network)

    @jax.jit
    def logits(state, observation, done):
        return nnx.merge(graphdef, state)(observation, done)[1].logits

    np.testing.assert_allclose(logits(state, OBSERVATION, DONE), network(OBSERVATION, DONE)[1].logits, rtol=1e-5)
    doubled = jax.tree.map(lambda x: 2 * x, state)
    assert not np.allclose(logits(doubled, OBSERVATION, DONE), logits(state, OBSERVATION, DONE))


def test_vmap_over_a_leading_axis(network):
    observations = jnp.stack([OBSERVATION, -OBSERVATION])
    dones = jnp.stack([DONE, DONE])
    vmapped = nnx.vmap(lambda n, o, d: n(o, d)[1].logits, in_axes=(None, 0, 0))(network, observations, dones)
    np.testing.assert_allclose(vmapped[1], network(-OBSERVATION, DONE)[1].logits, rtol=1e-4, atol=1e-6)


def test_missing_feature_extractor_and_torso_are_identities():
    network = Network(head=heads.VNetwork())
    network.init(0, OBSERVATION, DONE)
    carry, value = network(OBSERVATION, DONE)
    assert carry == () and network.initialize_carry(B) == ()
    np.testing.assert_allclose(value, (OBSERVATION @ network.head.v.kernel[...] + network.head.v.bias[...])[..., 0], rtol=1e-5)


def test_feed_forward_torso_carries_nothing():
    network = Network(None, FFN(hidden_dim=8), heads.VNetwork())
    network.init(0, OBSERVATION, DONE)
    carry, value = network(OBSERVATION, DONE)
    assert carry == () and value.shape == (B, T)


def test_wrong_observation_rank():
    network = Network(FeatureExtractor(observation_extractor=MLP(features=(8,))), None, heads.VNetwork())
    with pytest.raises(ValueError, match=r"Network: observation has shape \(4, 5\).*\[batch, time, \.\.\.\]"):
        network.init(0, OBSERVATION[:, 0], DONE[:, 0])


def test_wrong_done_shape():
    network = Network(FeatureExtractor(observation_extractor=MLP(features=(8,))), None, heads.VNetwork())
    with pytest.raises(ValueError, match=r"Network: done has shape \(4,\); expected \[batch, time\] = \(4, 6\)"):
        network.init(0, OBSERVATION, DONE[:, 0])


def test_a_carry_of_another_batch_or_model_is_named():
    """A carry for 8 sequences with inputs for 1 gave outputs for 8 (an LSTM broadcast it); an LSTM's carry in a GRU
    failed inside jnp.where."""
    lstm = SequenceModelWrapper(RNN(nnx.LSTMCell(3, 8, rngs=nnx.Rngs(0))))
    gru = SequenceModelWrapper(RNN(nnx.GRUCell(3, 8, rngs=nnx.Rngs(0))))
    inputs, done = jnp.ones((1, 2, 3)), jnp.zeros((1, 2), bool)
    with pytest.raises(ValueError, match=r"^RNN: carry\[0\] has shape \[8, 8\] and dtype float32; expected \[1, 8\] and float32, as "
                       r"initialize_carry\(1\) gives for inputs of batch 1"):
        lstm(inputs, done, lstm.initialize_carry(8))
    with pytest.raises(ValueError, match=r"^RNN: the carry has the structure .*; expected that of initialize_carry\(1\), .*another model's"):
        gru(inputs, done, lstm.initialize_carry(1))
    carry, outputs = lstm(inputs, done, lstm.initialize_carry(1))
    assert outputs.shape == (1, 2, 8) and lstm(inputs, done, carry)[1].shape == (1, 2, 8)
    with pytest.raises(ValueError, match=r"^RNN: inputs have shape \(1, 0, 3\), no steps; expected at least one step"):
        lstm(inputs[:, :0], done[:, :0])


def test_cell_size_mismatch_names_module_and_shapes():
    network = Network(
        FeatureExtractor(observation_extractor=MLP(features=(32,))),
        SequenceModelWrapper(RNN(nnx.LSTMCell(64, 64, rngs=nnx.Rngs(0)))),
        heads.VNetwork(),
    )
    with pytest.raises(ValueError, match=r"RNN: it was built for inputs of width 64; got inputs of shape \(4, 6, 32\) \(width 32\)"):
        network.init(0, OBSERVATION, DONE)


def test_integer_previous_actions_ask_for_one_hot():
    network = Network(
        FeatureExtractor(observation_extractor=MLP(features=(8,)), action_extractor=MLP(features=(4,))),
        None,
        heads.VNetwork(),
    )
    with pytest.raises(ValueError, match=r"prev_action holds integer actions of shape \(4, 6\).*one_hot"):
        network.init(0, OBSERVATION, DONE, prev_action=jnp.zeros((B, T), int))
    with pytest.raises(ValueError, match=r"action extractor but prev_action is None"):
        network.init(0, OBSERVATION, DONE)


def test_image_observation_through_mlp_is_flattened():
    images = jnp.ones((B, T, 3, 3, 2))
    network = Network(FeatureExtractor(observation_extractor=MLP(features=(8,))), None, heads.VNetwork())
    network.init(0, images, DONE)
    assert network.feature_extractor.observation_extractor.layers[0].in_features == 18


def test_mlp_layer_norm_normalises_each_layer_before_its_activation():
    mlp = MLP(features=(8, 4), layer_norm=True)
    x = jax.random.normal(jax.random.key(0), (B, T, 5))
    init(mlp, 0, x)
    normalise = lambda h: (h - h.mean(-1, keepdims=True)) / jnp.sqrt(h.var(-1, keepdims=True) + 1e-6)  # noqa: E731
    expected = x
    for layer in mlp.layers:
        expected = jax.nn.relu(normalise(expected @ layer.kernel[...] + layer.bias[...]))
    np.testing.assert_allclose(mlp(x), expected, rtol=1e-4, atol=1e-5)
