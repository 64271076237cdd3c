"""Heads: map torso features to policies and values, all with batch shape ``[B, T]``."""

from memorax.networks.heads.categorical import Categorical
from memorax.networks.heads.continuous_q_network import ContinuousQNetwork
from memorax.networks.heads.discrete_q_network import DiscreteQNetwork
from memorax.networks.heads.gaussian import Gaussian
from memorax.networks.heads.squashed_gaussian import SquashedGaussian
from memorax.networks.heads.v_network import VNetwork

__all__ = ["Categorical", "ContinuousQNetwork", "DiscreteQNetwork", "Gaussian", "SquashedGaussian", "VNetwork"]
