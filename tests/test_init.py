"""A seed is a seed: ``agent.init`` and ``network.init`` draw every parameter from their key, purely."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from memorax.algorithms import DQN, PPO, PQN, SAC, DQNConfig, PPOConfig, PQNConfig, SACConfig
from memorax.environments import make
from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper, heads, init
from memorax.networks.sequence_models import GRU, LSTM, S5

B, T, OBS = 2, 5, 3
OBSERVATION = jax.random.normal(jax.random.key(0), (B, T, OBS))
DONE = jnp.zeros((B, T), bool).at[:, 0].set(True)
MEMORY, PENDULUM = "memorax::RepeatPrevious-Easy", "gymnax::Pendulum-v1"
TORSOS = {
    "guide-lstm": lambda: RNN(nnx.LSTMCell(8, 8, rngs=nnx.Rngs(0))),
    "gru": lambda: GRU(8),
    "lstm": lambda: LSTM(8),
    "s5": lambda: S5(hidden_dim=8, state_dim=8),
}


def network(head, torso="gru"):
    return Network(FeatureExtractor(observation_extractor=MLP(features=(8,))), TORSOS[torso](), head)


def replay(config):
    return config(num_envs=2, buffer_size=64, batch_size=2, sequence_length=4, burn_in=1, learning_starts=8)


AGENTS = {
    "ppo": lambda: PPO(PPOConfig(num_envs=2, num_minibatches=1), *make(MEMORY), network(heads.Categorical(4)),
                       network(heads.VNetwork(), "guide-lstm"), optax.adam(1e-3)),
    "pqn": lambda: PQN(PQNConfig(num_envs=2, num_minibatches=1), *make(MEMORY), network(heads.DiscreteQNetwork(4), "lstm"), optax.adam(1e-3)),
    "dqn": lambda: DQN(replay(DQNConfig), *make(MEMORY), network(heads.DiscreteQNetwork(4), "s5"), optax.adam(1e-3)),
    "sac": lambda: SAC(replay(SACConfig), *make(PENDULUM), network(heads.SquashedGaussian(1)),
                       network(heads.ContinuousQNetwork(), "guide-lstm"), optax.adam(1e-3)),
}  # fmt: skip


def params(module):
    return nnx.state(module, nnx.Param)


def equal(a, b):
    return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(jnp.array_equal(x, y)), a, b)))


def close(a, b):
    """Equal up to the float32 rounding that compiling changes (S5's complex products)."""
    return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(jnp.allclose(x, y, rtol=1e-5, atol=1e-6)), a, b)))


DETERMINISTIC = ("lambda_re", "lambda_im")  # S5's HiPPO eigenvalues depend on no key


def random_leaves_differ(a, b):
    """Every leaf of two draws differs, except constants (zero biases) and S5's deterministic eigenvalues."""
    paths_a, _ = jax.tree_util.tree_flatten_with_path(a)
    for (path, x), y in zip(paths_a, jax.tree.leaves(b), strict=True):
        deterministic = jnp.unique(x).size == 1 or any(name in jax.tree_util.keystr(path) for name in DETERMINISTIC)
        if not deterministic and jnp.array_equal(x, y):
            return False
    return True


KEYS = jax.random.split(jax.random.key(2), 3)


@pytest.fixture(scope="module", params=list(AGENTS))
def agent(request):
    """An agent and ``jax.jit(jax.vmap(agent.init))`` of the keys ``[k0, k0, k1, k2]``: one compilation for both tests."""
    agent = AGENTS[request.param]()
    return agent, jax.jit(jax.vmap(agent.init))(jnp.stack([KEYS[0], *KEYS])), request.param


def seed(batched, i):
    return jax.tree.map(lambda leaf: leaf[i], batched)


def test_agent_init_is_a_pure_function_of_the_key(agent):
    agent, batched, _ = agent
    first, again = agent.init(KEYS[0]), agent.init(KEYS[0])
    assert equal(first, again)
    assert equal(seed(batched, 0), seed(batched, 1))
    other = agent.init(KEYS[1])
    assert random_leaves_differ(first.params, other.params)
    assert not equal(first.env_state, other.env_state)


def test_vmapped_init_gives_the_agents_of_separate_inits(agent):
    """Compiled and batched, seed i is the eager ``init`` of key i (up to the rounding compiling changes)."""
    agent, batched, _ = agent
    for i, key in enumerate(KEYS):
        assert close(seed(batched, i + 1), agent.init(key))
    assert random_leaves_differ(seed(batched, 1).params, seed(batched, 2).params)


def equations(jaxpr):
    """Every equation of ``jaxpr`` and of the jaxprs inside it (scan, cond, custom rules, ...)."""
    for eqn in jaxpr.eqns:
        yield eqn
        for value in eqn.params.values():
            for inner in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(inner, "jaxpr", inner)
                if hasattr(inner, "eqns"):
                    yield from equations(inner)


def test_vmapped_init_factorises_each_seed_alone(agent):
    """Batched QR (orthogonal init under vmap) can deadlock jaxlib 0.10's CPU thread pool; seeds are drawn one by one."""
    agent, _, _ = agent
    jaxpr = jax.make_jaxpr(jax.vmap(agent.init))(KEYS).jaxpr
    factorisations = [eqn.invars[0].aval.shape for eqn in equations(jaxpr) if eqn.primitive.name == "qr"]
    assert factorisations and all(len(shape) == 2 for shape in factorisations), factorisations


TRAIN_STEPS = {"ppo": 256, "pqn": 256, "dqn": 64, "sac": 64}  # one rollout; 32 vector steps, 24 of them with updates


# evaluate's policy option, in each algorithm's own words: greedy, and as it acts at the end of training.
POLICY_OPTIONS = {
    "ppo": ({"deterministic": True}, {"deterministic": False}),
    "sac": ({"deterministic": True}, {"deterministic": False}),
    "pqn": ({"epsilon": 0.0}, {"epsilon": PQNConfig.epsilon_finish}),
    "dqn": ({"epsilon": 0.0}, {"epsilon": DQNConfig.epsilon_finish}),
}


def test_seeds_trained_and_evaluated_in_one_program_equal_seeds_alone(agent):
    """``jax.vmap`` of ``train`` over seeds 1 and 2 gives each seed's ``train`` alone; ``evaluate_seeds`` each ``evaluate``,
    greedy and sampled."""
    agent, batched, name = agent
    keys, states = KEYS[1:], jax.tree.map(lambda leaf: leaf[2:], batched)
    trained, metrics = jax.block_until_ready(jax.jit(jax.vmap(partial(agent.train, total_steps=TRAIN_STEPS[name])))(keys, states))
    evaluations = {greedy: agent.evaluate_seeds(keys, trained, num_episodes=4, greedy=greedy) for greedy in (True, False)}
    for i, key in enumerate(keys):
        initial = agent.init(key)
        alone, alone_metrics = agent.train(key, initial, TRAIN_STEPS[name])
        assert types(alone) == types(initial), "a trained state must reach jit as a new one does, or train compiles again"
        jax.tree.map(partial(np.testing.assert_allclose, rtol=1e-4, atol=1e-5), seed(trained, i).params, alone.params)
        jax.tree.map(partial(np.testing.assert_allclose, rtol=1e-3, atol=1e-5), seed(metrics, i), alone_metrics)
        for greedy, option in zip((True, False), POLICY_OPTIONS[name]):
            evaluation = agent.evaluate(key, seed(trained, i), num_episodes=4, **option)
            np.testing.assert_array_equal(evaluations[greedy][i]["returns"], evaluation["returns"])
            assert evaluations[greedy][i]["mean_return"] == evaluation["mean_return"]
    assert random_leaves_differ(seed(trained, 0).params, seed(trained, 1).params)


def types(tree):
    """Each leaf's shape, dtype and weak or strong type, as ``jax.jit`` keys its compiled programs (with their shardings)."""
    return jax.tree.map(jax.typeof, tree)


def test_a_trained_state_keeps_the_types_of_a_new_one_with_a_gaussian_head():
    """The Gaussian head's ``log σ``, filled from a Python float, was weak-typed until the first update made it
    strong, so every run with continuous actions compiled ``train`` twice (and ``evaluate`` after training again)."""
    agent = PPO(PPOConfig(num_envs=2, num_steps=4, num_minibatches=1), *make(PENDULUM), network(heads.Gaussian(1)),
                network(heads.VNetwork()), optax.adam(1e-3))  # fmt: skip
    initial = agent.init(jax.random.key(0))
    trained, _ = agent.train(jax.random.key(1), initial, 8)
    assert types(trained) == types(initial)


@pytest.mark.parametrize("torso", ["guide-lstm", "gru", "lstm"])
def test_sacs_twin_critics_start_independent_whatever_the_torso(torso):
    agent = SAC(replay(SACConfig), *make(PENDULUM), network(heads.SquashedGaussian(1)),
                network(heads.ContinuousQNetwork(), torso), optax.adam(1e-3))  # fmt: skip
    critics = agent.init(jax.random.key(0)).params["critics"]
    assert random_leaves_differ(*(jax.tree.map(lambda leaf: leaf[i], critics) for i in (0, 1)))


@pytest.mark.parametrize("torso", list(TORSOS))
def test_network_init_again_draws_every_parameter_again(torso):
    net = Network(FeatureExtractor(observation_extractor=MLP(features=(8,))), TORSOS[torso](), heads.Categorical(4))
    net.init(0, OBSERVATION, DONE)
    first = jax.tree.map(np.asarray, params(net))
    net.init(1, OBSERVATION, DONE)
    assert random_leaves_differ(first, params(net))
    net.init(0, OBSERVATION, DONE)
    assert equal(first, params(net))


def test_the_guides_eager_cell_is_drawn_again_like_every_other_parameter():
    cell = nnx.GRUCell(OBS, 8, rngs=nnx.Rngs(7))
    given = np.asarray(cell.dense_i.kernel[...])
    net = Network(None, RNN(cell), heads.VNetwork())
    net.init(0, OBSERVATION, DONE)
    redrawn = net.torso.model.cell
    assert type(redrawn) is nnx.GRUCell and redrawn.hidden_features == 8 and redrawn.in_features == OBS
    assert redrawn.dense_i.kernel.shape == given.shape and not np.array_equal(redrawn.dense_i.kernel[...], given)


def test_init_again_keeps_shared_modules_shared():
    extractor = FeatureExtractor(observation_extractor=MLP(features=(8,)))
    torso = SequenceModelWrapper(GRU(8))
    actor, critic = Network(extractor, torso, heads.Categorical(4)), Network(extractor, torso, heads.VNetwork())
    actor.init(0, OBSERVATION, DONE)
    critic.init(0, OBSERVATION, DONE)
    actor.init(1, OBSERVATION, DONE)
    assert actor.torso is critic.torso and actor.feature_extractor is critic.feature_extractor
    np.testing.assert_array_equal(critic(OBSERVATION, DONE)[1], critic.head(actor.torso(actor.feature_extractor(OBSERVATION, DONE), DONE)[1]))


@pytest.mark.parametrize(
    "module, example, name",
    [
        (MLP(features=(8,)), (OBSERVATION,), "MLP"),
        (SequenceModelWrapper(GRU(8)), (OBSERVATION, DONE), "GRU"),
        (SequenceModelWrapper(RNN(nnx.LSTMCell(OBS, 8, rngs=nnx.Rngs(0)))), (OBSERVATION, DONE), "RNN"),
        (SequenceModelWrapper(S5(hidden_dim=8, state_dim=8)), (OBSERVATION, DONE), "S5"),
    ],
    ids=lambda case: case if isinstance(case, str) else None,
)
def test_an_input_of_another_width_names_the_module_and_both_widths(module, example, name):
    init(module, 0, *example)
    wide = jnp.ones((B, T, OBS + 4))
    with pytest.raises(ValueError, match=rf"^{name}: it was built for inputs of width {OBS}; got .* \(width {OBS + 4}\)"):
        module(wide, *example[1:])
    with pytest.raises(ValueError, match=rf"width {OBS + 4}"):
        jax.jit(lambda x: module(x, *example[1:]))(wide)


def test_a_standalone_module_is_built_by_init_and_redrawn_by_its_key():
    a, b = GRU(8), GRU(8)
    init(a, jax.random.key(3), OBSERVATION, DONE, a.initialize_carry(B))
    init(b, nnx.Rngs(3), OBSERVATION, DONE, b.initialize_carry(B))
    assert equal(params(a), params(b))
    carry, outputs = a(OBSERVATION, DONE, a.initialize_carry(B))
    assert outputs.shape == (B, T, 8) and carry.shape == (B, 8)
