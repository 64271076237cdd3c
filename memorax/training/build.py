"""From options to an agent: the environment, the networks and the algorithm."""

from __future__ import annotations

import math

import optax
from flax import nnx
from gymnax.environments import spaces

from memorax.algorithms import DQN, PPO, PQN, SAC
from memorax.environments import make
from memorax.networks import CNN, MLP, FeatureExtractor, Network, SequenceModelWrapper, heads
from memorax.networks.blocks import FFN, PreNorm, Residual, Stack
from memorax.networks.sequence_models import (
    FFM,
    GRU,
    LRU,
    LSTM,
    MLSTM,
    S5,
    SLSTM,
    DeltaNet,
    GatedDeltaNet,
    LinearAttention,
    Mamba,
    Mamba2,
    MinGRU,
    MinLSTM,
    SelfAttention,
)
from memorax.parallel import data_mesh
from memorax.training.options import TorsoKind, TorsoOptions, TrainOptions


def sequence_model(kind: TorsoKind, options: TorsoOptions) -> nnx.Module:
    """One sequence model of width ``options.hidden``; its parameters are drawn by the agent's ``init``."""
    hidden = options.hidden
    if kind == "lstm":
        return LSTM(hidden)
    if kind == "gru":
        return GRU(hidden)
    if kind == "mingru":
        return MinGRU(hidden)
    if kind == "minlstm":
        return MinLSTM(hidden)
    if kind == "mamba":
        return Mamba(hidden_dim=hidden)
    if kind == "s5":
        return S5(hidden_dim=hidden, state_dim=hidden)
    if kind == "lru":
        return LRU(hidden_dim=hidden)
    if kind == "ffm":
        return FFM(hidden)
    if kind == "mamba2":
        return Mamba2(hidden)
    if kind == "mlstm":
        return MLSTM(hidden, num_heads=options.num_heads)
    if kind == "slstm":
        return SLSTM(hidden, num_heads=options.num_heads)
    if kind == "attention":
        return SelfAttention(num_heads=options.num_heads, head_dim=hidden // options.num_heads, features=hidden)
    if kind == "linear_attention":
        return LinearAttention(num_heads=options.num_heads, head_dim=hidden // options.num_heads, features=hidden)
    if kind in ("deltanet", "gated_deltanet"):
        model = DeltaNet if kind == "deltanet" else GatedDeltaNet
        return model(num_heads=options.num_heads, head_dim=hidden // options.num_heads, features=hidden)
    return MLP(features=(hidden,))


PREVIOUS_FEATURES = 16  # the width the previous action and reward are encoded to
MIN_CNN_SIDE = 36  # the smallest image the Nature-DQN convolutions (kernels 8, 4, 3; strides 4, 2, 1) take


def torso(options: TorsoOptions, input_width: int) -> nnx.Module:
    """One sequence model, or ``--torso.stack``'s residual blocks at width ``options.hidden``, after a dense layer
    from ``input_width`` (the encoder's width and the previous action's and reward's) when that is another width."""
    if not options.stack:
        return SequenceModelWrapper(sequence_model(options.kind, options))
    blocks = []
    if input_width != options.hidden:
        blocks.append(MLP(features=(options.hidden,), activate_final=False, kernel_init=nnx.initializers.orthogonal()))
    for kind in options.stack:
        blocks.append(Residual(PreNorm(sequence_model(kind, options))))
        blocks.append(Residual(PreNorm(FFN(hidden_dim=4 * options.hidden))))
    return Stack(blocks=blocks)


def encoder(options: TrainOptions, observation_shape: tuple[int, ...]) -> nnx.Module:
    """The MLP of ``--encoder.features``, after the Nature-DQN convolutions where ``--encoder.kind`` asks for them."""
    layer_norm = options.algorithm == "pqn"  # PQN's stability without a target network rests on it
    mlp = MLP(features=options.encoder.features, layer_norm=layer_norm)
    is_image = len(observation_shape) == 3 and min(observation_shape[:2]) >= MIN_CNN_SIDE
    if options.encoder.kind == "mlp" or (options.encoder.kind == "auto" and not is_image):
        return mlp
    if not is_image:
        raise ValueError(
            f"--encoder.kind cnn needs image observations [height, width, channels] at least {MIN_CNN_SIDE} pixels a "
            f"side; {options.env} has observations of shape {observation_shape}."
        )
    return nnx.Sequential(CNN(features=(32, 64, 64), kernel_sizes=(8, 4, 3), strides=(4, 2, 1)), mlp)


def network(options: TrainOptions, head: nnx.Module, observation_shape: tuple[int, ...] = ()) -> Network:
    inputs = FeatureExtractor(
        observation_extractor=encoder(options, observation_shape),
        action_extractor=MLP(features=(PREVIOUS_FEATURES,)) if options.encoder.previous_action else None,
        reward_extractor=MLP(features=(PREVIOUS_FEATURES,)) if options.encoder.previous_reward else None,
    )
    fed_back = options.encoder.previous_action + options.encoder.previous_reward
    return Network(inputs, torso(options.torso, options.encoder.features[-1] + fed_back * PREVIOUS_FEATURES), head)


def agent(options: TrainOptions) -> PPO | PQN | DQN | SAC:
    """The agent the options describe; the environment id is checked by ``make``."""
    env, env_params = make(options.env, **options.env_arguments)
    config = options.algorithm_config
    space = env.action_space(env_params)
    discrete = isinstance(space, spaces.Discrete)
    learning_rate = options.optimizer_learning_rate
    mesh = data_mesh(options.devices, options.seed_devices)
    shape = env.observation_space(env_params).shape
    if options.algorithm in ("pqn", "dqn"):
        if not discrete:
            raise ValueError(f"--algorithm {options.algorithm} needs discrete actions; {options.env} has {space}.")
        q_network = network(options, heads.DiscreteQNetwork(space.n), shape)
        if options.algorithm == "dqn":
            return DQN(config, env, env_params, q_network, optax.adam(learning_rate), mesh)
        return PQN(config, env, env_params, q_network, optax.radam(learning_rate), mesh)
    action_dim = space.n if discrete else math.prod(space.shape)
    if options.algorithm == "sac":
        policy = heads.Categorical(action_dim) if discrete else heads.SquashedGaussian(action_dim)
        value = heads.DiscreteQNetwork(action_dim) if discrete else heads.ContinuousQNetwork()
        actor, critic = network(options, policy, shape), network(options, value, shape)
        return SAC(config, env, env_params, actor, critic, optax.adam(learning_rate), mesh)
    policy = heads.Categorical(action_dim) if discrete else heads.Gaussian(action_dim=action_dim)
    actor = network(options, policy, shape)
    critic = network(options, heads.VNetwork(), shape)
    return PPO(config, env, env_params, actor, critic, optax.adam(learning_rate), mesh)
