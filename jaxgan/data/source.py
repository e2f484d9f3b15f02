"""What the training loop reads: the batch of a step, placed on the devices.

``make_source(...)`` returns a toy source (sampled on device from the step's key) or an
image source (an in-memory dataset read by ``ImageBatches``, each host passing its own
slice to ``jax.make_array_from_process_local_data``). Either way the batch of step s is
a function of (seed, s) alone, so resuming needs nothing but the step.

``batches(start, count)`` gives the batches of ``count`` steps at once, stacked along a new
leading axis, for a compiled call that runs several steps (``train.steps_per_call``).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxgan.data import images as image_data
from jaxgan.data import toy
from jaxgan.data.pipeline import ImageBatches


def toy_data_key(seed):
  """The key from which a toy run draws its data: batch s comes from ``fold_in(key, s)``."""
  return jax.random.fold_in(jax.random.key(seed), 1)


def toy_batch(name: str, key, step, n_critic: int, batch_size: int):
  """The toy batch of ``step``, (n_critic, batch_size, *example_shape), drawn on device."""
  shape = (n_critic, batch_size, *toy.data_shape(name))
  return toy.sample(name, jax.random.fold_in(key, step), math.prod(shape[:2])).reshape(shape)


def stacked_sharding(sharding):
  """The sharding of ``sharding``'s arrays stacked along a new leading (step) axis."""
  if not isinstance(sharding, NamedSharding):
    return sharding
  return NamedSharding(sharding.mesh, P(None, *sharding.spec))


class ToySource:
  num_classes = 0

  def __init__(self, name: str, batch_size: int, n_critic: int, seed: int, sharding):
    self.name, self.shape = name, toy.data_shape(name)
    self._key = toy_data_key(seed)
    draw = lambda key, step: toy_batch(name, key, step, n_critic, batch_size)
    self._draw = jax.jit(draw, out_shardings=sharding)
    self._draw_many = functools.lru_cache(maxsize=4)(lambda count: jax.jit(
        lambda key, start: jax.vmap(draw, in_axes=(None, 0))(key, start + jnp.arange(count)),
        out_shardings=stacked_sharding(sharding)))

  def batch(self, step: int):
    return self._draw(self._key, step)

  def batches(self, start: int, count: int):
    """The batches of steps start .. start + count - 1, stacked: one call on the device."""
    return self._draw_many(count)(self._key, start)

  def real_sample(self, n: int) -> np.ndarray:
    return np.asarray(toy.sample(self.name, jax.random.key(7), n))


class ImageSource:
  def __init__(self, dataset: image_data.ImageDataset, batch_size: int, n_critic: int,
               seed: int, sharding):
    self.dataset, self.shape, self.num_classes = dataset, dataset.shape, dataset.num_classes
    self._batches = ImageBatches(dataset, batch_size, n_critic, seed, jax.process_index(),
                                 jax.process_count())
    self._sharding = sharding
    self._global_shape = (n_critic, batch_size, *self.shape)

  def batch(self, step: int):
    local = self._batches.batch(step)
    return {k: jax.make_array_from_process_local_data(
        self._sharding, v, self._global_shape[:v.ndim]) for k, v in local.items()}

  def batches(self, start: int, count: int):
    """The batches of steps start .. start + count - 1, stacked on the host, sent at once."""
    local = [self._batches.batch(s) for s in range(start, start + count)]
    sharding = stacked_sharding(self._sharding)
    return {k: jax.make_array_from_process_local_data(
        sharding, np.stack([b[k] for b in local]), (count, *self._global_shape[:local[0][k].ndim]))
        for k in local[0]}

  def real_sample(self, n: int) -> np.ndarray:
    return image_data.to_model_range(self.dataset.images[:n])


def make_source(name: str, *, batch_size: int, n_critic: int, seed: int, sharding,
                path: str = "", split: str = "train", data_dir: str = "",
                image_size: int = 0):
  """A toy source for toy names, otherwise an image source ('npz', 'folder' or TFDS)."""
  if name in toy.DATASETS:
    return ToySource(name, batch_size, n_critic, seed, sharding)
  dataset = image_data.load(name, path, split, data_dir or None, image_size or None)
  return ImageSource(dataset, batch_size, n_critic, seed, sharding)
