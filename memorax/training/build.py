"""From options to an agent: the environment, the networks and the algorithm."""

from __future__ import annotations

import math

import optax
from flax import nnx
from gymnax.environments import spaces

from memorax.algorithms import DQN, PPO, PQN, SAC
from memorax.environments import make
from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper, heads
from memorax.networks.blocks import FFN, PreNorm, Residual, Stack
from memorax.networks.sequence_models import LRU, S5, Mamba, SelfAttention
from memorax.parallel import data_mesh
from memorax.training.options import TorsoKind, TorsoOptions, TrainOptions


def sequence_model(kind: TorsoKind, in_features: int, options: TorsoOptions, seed: int) -> nnx.Module:
    """One sequence model of width ``options.hidden`` reading ``in_features``."""
    hidden = options.hidden
    if kind == "lstm":
        return RNN(nnx.OptimizedLSTMCell(in_features, hidden, rngs=nnx.Rngs(seed)))
    if kind == "gru":
        return RNN(nnx.GRUCell(in_features, hidden, rngs=nnx.Rngs(seed)))
    if kind == "mamba":
        return Mamba(hidden_dim=hidden)
    if kind == "s5":
        return S5(hidden_dim=hidden, state_dim=hidden)
    if kind == "lru":
        return LRU(hidden_dim=hidden)
    if kind == "attention":
        return SelfAttention(num_heads=options.num_heads, head_dim=hidden // options.num_heads, features=hidden)
    return MLP(features=(hidden,))


def torso(options: TorsoOptions, in_features: int, seed: int) -> nnx.Module:
    if not options.stack:
        return SequenceModelWrapper(sequence_model(options.kind, in_features, options, seed))
    blocks = []
    for index, kind in enumerate(options.stack):
        blocks.append(Residual(PreNorm(sequence_model(kind, options.hidden, options, seed + index))))
        blocks.append(Residual(PreNorm(FFN(hidden_dim=4 * options.hidden))))
    return Stack(blocks=blocks)


def network(options: TrainOptions, head: nnx.Module, seed: int) -> Network:
    layer_norm = options.algorithm == "pqn"  # PQN's stability without a target network rests on it
    encoder = MLP(features=options.encoder.features, layer_norm=layer_norm)
    body = torso(options.torso, options.encoder.features[-1], seed)
    return Network(FeatureExtractor(observation_extractor=encoder), body, head)


def agent(options: TrainOptions) -> PPO | PQN | DQN | SAC:
    """The agent the options describe; the environment id is checked by ``make``."""
    env, env_params = make(options.env)
    config = options.algorithm_config
    space = env.action_space(env_params)
    discrete = isinstance(space, spaces.Discrete)
    learning_rate = options.optimizer_learning_rate
    mesh = data_mesh(options.devices)
    if options.algorithm in ("pqn", "dqn"):
        if not discrete:
            raise ValueError(f"--algorithm {options.algorithm} needs discrete actions; {options.env} has {space}.")
        q_network = network(options, heads.DiscreteQNetwork(space.n), options.seed)
        if options.algorithm == "dqn":
            return DQN(config, env, env_params, q_network, optax.adam(learning_rate), mesh)
        return PQN(config, env, env_params, q_network, optax.radam(learning_rate), mesh)
    action_dim = space.n if discrete else math.prod(space.shape)
    if options.algorithm == "sac":
        policy = heads.Categorical(action_dim) if discrete else heads.SquashedGaussian(action_dim)
        value = heads.DiscreteQNetwork(action_dim) if discrete else heads.ContinuousQNetwork()
        actor, critic = network(options, policy, options.seed), network(options, value, options.seed + 1)
        return SAC(config, env, env_params, actor, critic, optax.adam(learning_rate), mesh)
    policy = heads.Categorical(action_dim) if discrete else heads.Gaussian(action_dim=action_dim)
    actor = network(options, policy, options.seed)
    critic = network(options, heads.VNetwork(), options.seed + 1)
    return PPO(config, env, env_params, actor, critic, optax.adam(learning_rate), mesh)
