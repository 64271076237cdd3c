"""Every snippet of the user guide, as written, initialised, run on sequences with resets, and trained.

The guide's snippets use ``nnx`` from ``from flax import nnx``; the statements
below are copied from it unchanged.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from memorax.networks import CNN, MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper, heads
from memorax.networks.blocks import FFN, PreNorm, Residual, Stack
from memorax.networks.sequence_models import LRU, S5, Mamba, SelfAttention

B, T, OBS = 4, 6, 5


def vector_inputs(seed=0):
    rng = np.random.default_rng(seed)
    observation = jnp.asarray(rng.normal(size=(B, T, OBS)), jnp.float32)
    done = jnp.asarray(rng.random((B, T)) < 0.25).at[:, 0].set(True)
    return observation, done


def loss_for(network, observation, done, target, **head_kwargs):
    """A loss the head's output can be trained on, whatever the head."""
    _, out = network(observation, done, **head_kwargs)
    if isinstance(out, jax.Array):
        return jnp.mean((out - target) ** 2)
    return -jnp.mean(out.log_prob(target))


def target_for(head, key):
    """A fixed target of the right kind for ``head``."""
    if isinstance(head, heads.Categorical):
        return jax.random.randint(key, (B, T), 0, head.action_dim)
    if isinstance(head, heads.DiscreteQNetwork):
        return jax.random.normal(key, (B, T, head.action_dim))
    if isinstance(head, (heads.Gaussian, heads.SquashedGaussian)):
        return 0.8 * jnp.tanh(jax.random.normal(key, (B, T, head.action_dim)))
    return jax.random.normal(key, (B, T))


def exercise(network, observation=None, done=None, steps=25, learning_rate=3e-3, **inputs):
    """init, forward on a batch of sequences with resets, backward, and a few Adam steps that cut the loss."""
    if observation is None:
        observation, done = vector_inputs()
    network.init(0, observation, done, **inputs)
    carry, out = network(observation, done, **inputs)
    batch_shape = out.shape[:2] if isinstance(out, jax.Array) else out.batch_shape
    assert tuple(batch_shape) == (observation.shape[0], observation.shape[1])
    target = target_for(network.head, jax.random.key(1))

    optimizer = nnx.Optimizer(network, optax.adam(learning_rate), wrt=nnx.Param)

    @nnx.jit
    def train_step(network, optimizer):
        loss, grads = nnx.value_and_grad(lambda n: loss_for(n, observation, done, target, **inputs))(network)
        optimizer.update(network, grads)
        return loss, grads

    first, grads = train_step(network, optimizer)
    leaves = jax.tree.leaves(nnx.state(grads, nnx.Param))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    assert sum(float(jnp.sum(jnp.abs(g))) for g in leaves) > 0
    for _ in range(steps):
        last, _ = train_step(network, optimizer)
    assert float(last) < float(first), (float(first), float(last))
    return carry, out


def test_mlp_feature_extractor():
    # MLP for vector observations
    feature_extractor = FeatureExtractor(
        observation_extractor=MLP(features=(64, 64)),
    )
    exercise(Network(feature_extractor, None, heads.VNetwork()))


def test_cnn_feature_extractor_on_84x84_images():
    # CNN for image observations
    feature_extractor = FeatureExtractor(
        observation_extractor=CNN(
            features=(32, 64, 64),
            kernel_sizes=(8, 4, 3),
            strides=(4, 2, 1),
        ),
    )
    images = jax.random.uniform(jax.random.key(0), (B, T, 84, 84, 3))
    _, done = vector_inputs()
    network = Network(feature_extractor, SequenceModelWrapper(RNN(nnx.GRUCell(3136, 16, rngs=nnx.Rngs(0)))), heads.VNetwork())
    # Adam moves all 3136 input weights of the GRU at once: a small step keeps its gates unsaturated.
    exercise(network, images, done, steps=10, learning_rate=1e-4)


def test_feature_extractor_with_additional_inputs():
    # Include additional inputs
    feature_extractor = FeatureExtractor(
        observation_extractor=MLP(features=(64,)),
        action_extractor=MLP(features=(32,)),
        reward_extractor=MLP(features=(16,)),
        done_extractor=MLP(features=(16,)),
    )
    network = Network(feature_extractor, None, heads.Categorical(action_dim=4))
    prev_action = jax.nn.one_hot(jax.random.randint(jax.random.key(2), (B, T), 0, 4), 4)
    prev_reward = jax.random.normal(jax.random.key(3), (B, T))
    exercise(network, prev_action=prev_action, prev_reward=prev_reward)
    observation, done = vector_inputs()
    features = feature_extractor(observation, done, prev_action, prev_reward)
    assert features.shape == (B, T, 64 + 32 + 16 + 16)


TORSOS = {
    # LSTM
    "lstm": lambda: SequenceModelWrapper(RNN(nnx.LSTMCell(64, 64, rngs=nnx.Rngs(0)))),
    # GRU
    "gru": lambda: SequenceModelWrapper(RNN(nnx.GRUCell(64, 64, rngs=nnx.Rngs(0)))),
    # Mamba (State Space Model)
    "mamba": lambda: SequenceModelWrapper(Mamba(hidden_dim=64)),
    # S5 (State Space Model)
    "s5": lambda: SequenceModelWrapper(S5(hidden_dim=64, state_dim=64)),
    # Imported by the guide beside the others
    "lru": lambda: SequenceModelWrapper(LRU(hidden_dim=64)),
    # Self-Attention
    "attention": lambda: SequenceModelWrapper(SelfAttention(num_heads=4, head_dim=16)),
}


@pytest.mark.parametrize("name", list(TORSOS))
def test_torso(name):
    torso = TORSOS[name]()
    network = Network(FeatureExtractor(observation_extractor=MLP(features=(64,))), torso, heads.Categorical(action_dim=4))
    carry, _ = exercise(network)
    assert jax.tree.structure(carry) == jax.tree.structure(network.initialize_carry(B))


HEADS = {
    # Categorical policy (discrete actions)
    "categorical": lambda: heads.Categorical(action_dim=4),
    # Q-network for DQN
    "discrete_q": lambda: heads.DiscreteQNetwork(action_dim=4),
    # Gaussian policy
    "gaussian": lambda: heads.Gaussian(action_dim=2),
    # Squashed Gaussian (bounded actions, used in SAC)
    "squashed_gaussian": lambda: heads.SquashedGaussian(action_dim=2),
    # Value network (critic)
    "v": lambda: heads.VNetwork(),
}


@pytest.mark.parametrize("name", list(HEADS))
def test_head(name):
    exercise(Network(FeatureExtractor(observation_extractor=MLP(features=(64,))), None, HEADS[name]()))


def test_continuous_q_head_takes_the_action_as_head_kwarg():
    # Q-network for continuous actions
    q_head = heads.ContinuousQNetwork()
    network = Network(FeatureExtractor(observation_extractor=MLP(features=(64,))), None, q_head)
    exercise(network, action=jax.random.normal(jax.random.key(4), (B, T, 2)))


def test_composing_networks():
    # Actor network
    actor = Network(
        feature_extractor=FeatureExtractor(observation_extractor=MLP(features=(64,))),
        torso=SequenceModelWrapper(RNN(nnx.LSTMCell(64, 64, rngs=nnx.Rngs(0)))),
        head=heads.Categorical(action_dim=4),
    )
    # Critic network
    critic = Network(
        feature_extractor=FeatureExtractor(observation_extractor=MLP(features=(64,))),
        torso=SequenceModelWrapper(RNN(nnx.LSTMCell(64, 64, rngs=nnx.Rngs(1)))),
        head=heads.VNetwork(),
    )
    exercise(actor)
    exercise(critic)


def test_stack_of_blocks():
    # Stack multiple layers
    torso = Stack(blocks=[
        PreNorm(Residual(SelfAttention(num_heads=4, head_dim=16))),
        PreNorm(Residual(FFN(hidden_dim=256))),
        PreNorm(Residual(SelfAttention(num_heads=4, head_dim=16))),
        PreNorm(Residual(FFN(hidden_dim=256))),
    ])
    network = Network(FeatureExtractor(observation_extractor=MLP(features=(64,))), torso, heads.Categorical(action_dim=4))
    carry, _ = exercise(network)
    assert len(carry) == 4 and carry[1] == () and carry[3] == ()


def test_parameter_sharing_snippet_trains():
    # Shared feature extractor and torso
    shared_feature_extractor = FeatureExtractor(observation_extractor=MLP(features=(64,)))
    shared_torso = SequenceModelWrapper(RNN(nnx.LSTMCell(64, 64, rngs=nnx.Rngs(0))))
    actor = Network(shared_feature_extractor, shared_torso, heads.Categorical(action_dim=4))
    critic = Network(shared_feature_extractor, shared_torso, heads.VNetwork())
    exercise(actor)
    exercise(critic)
