"""One compiled program for a group of variants: K train states stacked along a leading
axis, stepped by ``jax.vmap`` of the library's step.

Each variant is exactly the run ``train_and_evaluate`` would make with its config: its
state is ``create_state`` from its own seed with its own numbers
(``GANState.with_hyperparameters``), its toy data is drawn from its own seed's key, and
no computation mixes variants, so the variants equal the runs made one by one (to
float32 rounding of batched kernels) and a variant that diverges cannot disturb the
others. A variant whose step is not finite is frozen at its last finite state and
marked with the step (``train.on_nonfinite='stop'``), or has that step skipped
(``'skip'``), while the others go on.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import struct

from jaxgan import config as config_lib
from jaxgan.config import HYPERPARAMETERS
from jaxgan.data.source import toy_batch, toy_data_key
from jaxgan.sweep.grid import SweepError, Variant
from jaxgan.train_state import GANState
from jaxgan.train_step import make_train_step

Array = jax.Array
_NAME_TO_FIELD = {name: field for field, name in HYPERPARAMETERS.items()}


@struct.dataclass
class SweepState:
  """K variants: their stacked train states, and which of them went non-finite when.

  ``step`` is the number of sweep steps done (a frozen variant's own ``states.step``
  stays where it stopped); ``diverged_at`` is -1 for a variant that never diverged.
  """

  step: Array
  states: GANState
  alive: Array
  diverged_at: Array


def _field_value(config: ml_collections.ConfigDict, field: str):
  node = config
  for key in field.split("."):
    node = node[key]
  return node


def variant_values(variants: Sequence[Variant], names: Sequence[str]) -> dict[str, Array]:
  """Each variant's value of every state hyperparameter in ``names``, stacked (K,)."""
  return {name: jnp.asarray([float(_field_value(v.config, _NAME_TO_FIELD[name]))
                             for v in variants], jnp.float32)
          for name in names if name in _NAME_TO_FIELD}


def init_fn(variants: Sequence[Variant], data_shape, num_classes: int) -> Callable:
  """``init(seeds, values) -> SweepState`` for the variants of one group (pure, jittable)."""
  base, shape = variants[0].config, tuple(data_shape)

  def one(seed, values):
    state = config_lib.initial_state(base, shape, num_classes, seed=seed)
    return state.with_hyperparameters(values)

  def init(seeds, values):
    k = seeds.shape[0]
    return SweepState(step=jnp.zeros((), jnp.int32), states=jax.vmap(one)(seeds, values),
                      alive=jnp.ones((k,), bool), diverged_at=jnp.full((k,), -1, jnp.int32))
  return init


def initializer(variants: Sequence[Variant], data_shape, num_classes: int = 0):
  """(``init``, its arguments): ``jax.jit(init)(*args)`` is the group's SweepState and
  ``jax.eval_shape(init, *args)`` its shapes, without computing it."""
  base = variants[0].config
  names = jax.eval_shape(
      lambda: config_lib.initial_state(base, data_shape, num_classes)).hyperparameters()
  seeds = jnp.asarray([int(v.config.seed) for v in variants], jnp.int32)
  return init_fn(variants, data_shape, num_classes), (seeds, variant_values(variants, names))


def _where_variant(mask: Array, new, old):
  """Per variant (leading axis), ``new`` where ``mask`` else ``old``."""
  def pick(n, o):
    if jax.dtypes.issubdtype(n.dtype, jax.dtypes.prng_key):
      return n  # The run's base key never changes.
    return jnp.where(mask.reshape(mask.shape + (1,) * (n.ndim - 1)), n, o)
  return jax.tree.map(pick, new, old)


def make_sweep_step(config: ml_collections.ConfigDict) -> Callable:
  """``sweep_step(sweep, batches) -> (sweep, metrics)``: one step of every variant.

  ``batches`` has a leading variant axis (K, n_critic, B, ...); metrics are (K,) arrays,
  with 'frozen' = 1 for variants that no longer train.
  """
  step = jax.vmap(make_train_step(config_lib.step_config(config)))
  skip = config.train.on_nonfinite == "skip"

  def sweep_step(sweep: SweepState, batches):
    new, metrics = step(sweep.states, batches)
    bad = metrics["nonfinite"] > 0
    alive = sweep.alive if skip else sweep.alive & ~bad
    diverged_at = jnp.where(sweep.alive & bad & ~skip, sweep.step + 1, sweep.diverged_at)
    states = _where_variant(alive, new, sweep.states)
    metrics = dict(metrics, frozen=(~alive).astype(jnp.float32))
    return SweepState(step=sweep.step + 1, states=states, alive=alive,
                      diverged_at=diverged_at), metrics
  return sweep_step


class ToyBatches:
  """Each variant's toy batches, drawn on device from its own seed's key (as single runs)."""

  def __init__(self, name: str, seeds: Sequence[int], batch_size: int, n_critic: int,
               sharding=None):
    self._keys = jax.vmap(toy_data_key)(jnp.asarray(seeds, jnp.int32))
    draw = lambda key, step: toy_batch(name, key, step, n_critic, batch_size)
    self._draw = jax.jit(jax.vmap(draw, in_axes=(0, None)), out_shardings=sharding)

  def batch(self, step: int):
    return self._draw(self._keys, step)


class ImageBatchesPerVariant:
  """Each variant's image batches from its own seed's order, stacked on the host."""

  def __init__(self, dataset, seeds: Sequence[int], batch_size: int, n_critic: int,
               sharding=None):
    from jaxgan.data.pipeline import ImageBatches
    self._per_seed = {s: ImageBatches(dataset, batch_size, n_critic, s) for s in set(seeds)}
    self._seeds, self._sharding = list(seeds), sharding

  def batch(self, step: int):
    cache = {s: b.batch(step) for s, b in self._per_seed.items()}
    out = {k: np.stack([cache[s][k] for s in self._seeds]) for k in cache[self._seeds[0]]}
    return jax.device_put(out, self._sharding) if self._sharding is not None else out


def available_bytes(device=None) -> int | None:
  """Memory free for the sweep on ``device``: the accelerator's free memory, or the host's."""
  device = device or jax.devices()[0]
  stats = device.memory_stats() if hasattr(device, "memory_stats") else None
  if stats and "bytes_limit" in stats:
    return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
  try:
    with open("/proc/meminfo") as f:
      info = dict(line.split(":", 1) for line in f)
    return int(info["MemAvailable"].split()[0]) * 1024
  except (OSError, KeyError, ValueError):
    pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else None
    return pages * os.sysconf("SC_PAGE_SIZE") if pages else None


def program_bytes(compiled) -> int:
  """Bytes a compiled step holds at once: its arguments, outputs and temporaries."""
  m = compiled.memory_analysis()
  if m is None:
    return 0
  return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
             - m.alias_size_in_bytes)


def check_fits(k: int, needed: int, available: int | None, devices: int = 1,
               fraction: float = 0.8) -> None:
  """Refuses a group whose program would not fit, saying how many variants would."""
  if available is None or needed <= fraction * available * devices:
    return
  per_variant = needed / k
  fit = int(fraction * available * devices // per_variant)
  raise SweepError(
      f"{k} variants need about {needed / 2**30:.2f} GiB ({per_variant / 2**20:.1f} MiB each) "
      f"but {available * devices / 2**30:.2f} GiB are free on {devices} device(s): about {fit} "
      "variants would fit. Sweep fewer values at once (e.g. fewer seeds), or lower the "
      "batch size or width.")


def variant_state(sweep: SweepState, i: int) -> GANState:
  """The train state of variant ``i`` of a group (as a single run would have it)."""
  return jax.tree.map(lambda x: x[i], sweep.states)


def sample_all(sweep: SweepState, key: Array, n: int, labels: Any = None) -> Array:
  """n samples of every variant's G (evaluation mode, moving average when kept): (K, n, ...)."""
  return jax.vmap(lambda s: s.sample(key, n, labels))(sweep.states)
