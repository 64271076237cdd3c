"""Data parallelism on a device mesh: environments and replayed batches split along its ``data`` axis, parameters replicated.

The algorithms stay single programs: they place their arrays with
:meth:`DataParallel.split` and :meth:`DataParallel.replicate`, and ``jax.jit``
partitions the rest. A loss that averages over a batch split across devices
becomes per-device partial gradients and one all-reduce, inserted by the
compiler, so training on N devices computes what it computes on one, up to
the order of floating-point sums. Seeds trained at once split along the
mesh's ``seeds`` axis: each row of the mesh trains its own seeds, and no
value crosses between rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"
SEEDS_AXIS = "seeds"


def data_mesh(devices: int | None = None, seed_devices: int | None = None) -> Mesh:
    """A mesh ``[seeds, data]`` of ``seed_devices × devices`` of ``jax.devices()``, the first ones.

    Environments split along ``data``; seeds trained at once (``jax.vmap`` over
    states, as :class:`~memorax.training.seeds.Seeds` does) split along
    ``seeds``, ``seeds / seed_devices`` on each row of the mesh (default: one
    row). ``devices`` defaults to all the devices a row can have. After
    ``jax.distributed.initialize()``, ``jax.devices()`` lists every host's
    devices, so the default mesh spans all hosts.
    """
    available = jax.devices()
    if seed_devices is None:
        seed_devices = 1
    if not 1 <= seed_devices <= len(available):
        raise ValueError(
            f"seed_devices is {seed_devices}; expected 1 to {len(available)}, the {available[0].platform} devices JAX sees "
            "(on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N)."
        )
    count = len(available) // seed_devices if devices is None else devices
    if not 1 <= count * seed_devices <= len(available):
        rows = f" per row of {seed_devices} seed devices" if seed_devices > 1 else ""
        raise ValueError(
            f"devices is {devices}; expected 1 to {len(available) // seed_devices}, the {available[0].platform} devices JAX sees"
            f"{rows} (on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N)."
        )
    return Mesh(np.array(available[: seed_devices * count]).reshape(seed_devices, count), (SEEDS_AXIS, DATA_AXIS))


class DataParallel:
    """Places an algorithm's arrays on ``mesh``: split along an axis over the ``data`` axis, or whole on every device.

    Placing is ``jax.lax.with_sharding_constraint``: eagerly it moves the
    arrays, under ``jit`` it binds the compiler. (``jax.device_put`` under
    ``jit`` did not: the compiler gathered the sampled batches onto every
    device and ran the updates whole on each, with the same results.)

    Args:
      mesh: a mesh with a ``data`` axis; ``None`` is :func:`data_mesh` over all devices.
      algorithm: named in errors.
      split_sizes: the sizes of the axes that split, by name (a config's
        ``split_sizes``); a ValueError names the first one the ``data`` axis does not divide.
    """

    def __init__(self, mesh: Mesh | None, algorithm: str, split_sizes: dict[str, int]):
        self.mesh = data_mesh() if mesh is None else mesh
        if DATA_AXIS not in self.mesh.axis_names:
            raise ValueError(f"{algorithm}: the mesh's axes are {self.mesh.axis_names}; expected one named {DATA_AXIS!r}.")
        self.devices = self.mesh.shape[DATA_AXIS]
        self.seed_devices = self.mesh.shape.get(SEEDS_AXIS, 1)
        for name, size in split_sizes.items():
            if size % self.devices:
                raise ValueError(
                    f"{algorithm}: {name} ({size}) must be divisible by the {self.devices} devices of the mesh's "
                    f"{DATA_AXIS!r} axis: each device holds an equal share."
                )

    @property
    def seeds_axis(self) -> str | None:
        """The mesh axis that seeds vmapped over split along (``jax.vmap``'s ``spmd_axis_name``); ``None`` on one row."""
        return SEEDS_AXIS if self.seed_devices > 1 else None

    def split_seeds(self, tree: Any) -> Any:
        """Every leaf split along its leading seed axis over the ``seeds`` axis; unchanged on one row."""
        if self.seeds_axis is None:
            return tree
        return jax.device_put(tree, NamedSharding(self.mesh, PartitionSpec(self.seeds_axis)))

    def split(self, tree: Any, axis: int = 0) -> Any:
        """Every leaf split along ``axis`` (the environment or batch axis), one equal block per device."""
        # jit returns arrays split over one device as replicated; placing them so too keeps train from compiling twice.
        spec = PartitionSpec(*[None] * axis, DATA_AXIS) if self.devices > 1 else PartitionSpec()
        return jax.lax.with_sharding_constraint(tree, NamedSharding(self.mesh, spec))

    def replicate(self, tree: Any) -> Any:
        """Every leaf whole on every device."""
        return jax.lax.with_sharding_constraint(tree, NamedSharding(self.mesh, PartitionSpec()))

    def place(self, state: Any, **placements: Callable[[Any], Any]) -> Any:
        """A dataclass ``state`` with each field named in ``placements`` placed by its function and the others replicated.

        Weak-typed leaves (``jnp.array(0)``'s, a Python float's) become strong
        ones of the same dtype: ``jax.jit`` tells weak from strong types apart, so
        a state with a weak leaf that training makes strong (or an environment
        whose step makes a leaf weak) would compile ``train`` twice, once for the
        first interval and once for the rest.
        """
        return state.replace(
            **{
                field.name: placements.get(field.name, self.replicate)(strong_typed(getattr(state, field.name)))
                for field in dataclasses.fields(state)
            }
        )


def strong_typed(tree: Any) -> Any:
    """``tree`` with every weak-typed leaf (a Python scalar included) an array of a strong type of its dtype."""
    return jax.tree.map(lambda leaf: jnp.asarray(leaf, jax.typeof(leaf).dtype) if jax.typeof(leaf).weak_type else leaf, tree)
