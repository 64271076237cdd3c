"""Blocks for composing deeper torsos."""

from memorax.networks.blocks.ffn import FFN
from memorax.networks.blocks.gated_residual import GatedResidual
from memorax.networks.blocks.post_norm import PostNorm
from memorax.networks.blocks.pre_norm import PreNorm
from memorax.networks.blocks.residual import Residual
from memorax.networks.blocks.stack import Stack

__all__ = ["FFN", "GatedResidual", "PostNorm", "PreNorm", "Residual", "Stack"]
