"""Data parallelism: one mesh axis 'data' over all devices of all hosts.

The batch is sharded along its example axis; the train state is replicated. Under
``jax.jit`` the compiler inserts the gradient all-reduce, and batch statistics (batch
norm, the means in the losses) are taken over the global batch.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def initialize_distributed(coordinator: str = "", num_processes: int = 0,
                           process_id: int = -1) -> None:
  """Joins a multi-host run: ``jax.distributed.initialize``, before any other JAX call.

  With no arguments JAX detects the cluster (Cloud TPU, SLURM, Open MPI, ...);
  otherwise all three name the coordinator 'host:port', the number of processes and
  this process's index.
  """
  if coordinator:
    jax.distributed.initialize(coordinator, num_processes, process_id)
  else:
    jax.distributed.initialize()


def make_mesh(devices=None) -> Mesh:
  """A one-axis mesh over ``devices`` (default: all devices of all hosts)."""
  return Mesh(np.asarray(jax.devices() if devices is None else devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, example_axis: int = 1) -> NamedSharding:
  """Shards axis ``example_axis`` of a batch (axis 0 is the critic step by default)."""
  return NamedSharding(mesh, P(*([None] * example_axis), DATA_AXIS))


def replicate(tree, mesh: Mesh):
  """Places every leaf on all devices of ``mesh`` (typed PRNG keys through their key data,
  which ``device_put`` accepts on meshes that span several hosts)."""
  sharding = replicated(mesh)

  def put(x):
    if jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key):
      data = jax.device_put(jax.random.key_data(x), sharding)
      return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    return jax.device_put(x, sharding)

  return jax.tree.map(put, tree)
