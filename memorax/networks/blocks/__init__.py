"""Blocks for composing deeper torsos."""

from memorax.networks.blocks.ffn import FFN
from memorax.networks.blocks.pre_norm import PreNorm
from memorax.networks.blocks.residual import Residual
from memorax.networks.blocks.stack import Stack

__all__ = ["FFN", "PreNorm", "Residual", "Stack"]
