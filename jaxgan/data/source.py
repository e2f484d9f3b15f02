"""What the training loop reads: the batch of a step, placed on the devices.

``make_source(...)`` returns a toy source (sampled on device from the step's key) or an
image source: an in-memory dataset read by ``ImageBatches`` (``ImageSource``), or a set
streamed from storage by grain (``jaxgan.data.grain_source.GrainSource``). Each host sends
its own slice of the batch as uint8 (``DevicePut``: ``jax.make_array_from_process_local_data``),
converted to [-1, 1] on the devices. Either way the batch of step s is a function of
(seed, s) alone, so resuming needs nothing but the step.

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


class DevicePut:
  """This host's uint8 batches -> device arrays of the global batch, the images turned into
  [-1, 1] on the devices: uint8 crosses the host-device link (a quarter of float32's bytes),
  and every image source makes its floats with this one compiled conversion."""

  def __init__(self, sharding, global_shape: tuple[int, ...]):
    self._sharding, self._global_shape = sharding, global_shape
    to_model = lambda batch: {**batch, "image": image_data.to_model_range(batch["image"])}
    stack = lambda batches: jax.tree.map(lambda *xs: jnp.stack(xs), *batches)
    self._convert = jax.jit(to_model, out_shardings=sharding)
    self._convert_stacked = jax.jit(to_model, out_shardings=stacked_sharding(sharding))
    self._stack = jax.jit(lambda batches: to_model(stack(batches)),
                          out_shardings=stacked_sharding(sharding))

  def put(self, local: dict[str, np.ndarray], count: int = 0) -> dict[str, jax.Array]:
    """Sends this host's part; ``count`` > 0: ``count`` steps stacked on a leading axis."""
    sharding = stacked_sharding(self._sharding) if count else self._sharding
    lead = (count,) if count else ()
    return {k: jax.make_array_from_process_local_data(
        sharding, v, (*lead, *self._global_shape[:v.ndim - len(lead)])) for k, v in local.items()}

  def convert(self, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """One step's batch, sent by ``put``, with its images in [-1, 1]."""
    return self._convert(batch)

  def convert_stacked(self, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """``count`` steps sent stacked by ``put(local, count)``, images in [-1, 1]."""
    return self._convert_stacked(batch)

  def stack(self, batches: list[dict[str, jax.Array]]) -> dict[str, jax.Array]:
    """Several steps sent one by one, stacked on the devices, images in [-1, 1]."""
    return self._stack(batches)


class ImageSource:
  """An in-memory dataset (``ImageBatches``): right for sets that fit in host memory."""

  def __init__(self, dataset: image_data.ImageDataset, batch_size: int, n_critic: int,
               seed: int, sharding):
    self.dataset, self.shape, self.num_classes = dataset, dataset.shape, dataset.num_classes
    self._batches = ImageBatches(dataset, batch_size, n_critic, seed, jax.process_index(),
                                 jax.process_count())
    self._device = DevicePut(sharding, (n_critic, batch_size, *self.shape))

  def batch(self, step: int):
    return self._device.convert(self._device.put(self._batches.raw_batch(step)))

  def batches(self, start: int, count: int):
    """The batches of steps start .. start + count - 1, stacked on the host, sent at once."""
    local = [self._batches.raw_batch(s) for s in range(start, start + count)]
    stacked = {k: np.stack([b[k] for b in local]) for k in local[0]}
    return self._device.convert_stacked(self._device.put(stacked, count))

  def real_images(self, n: int) -> np.ndarray:
    """The first ``n`` examples of the set, uint8 (n, H, W, C)."""
    return self.dataset.images[:n]

  def real_sample(self, n: int) -> np.ndarray:
    return image_data.to_model_range(self.real_images(n))


SOURCES = ("memory", "grain")


def make_source(name: str, *, batch_size: int, n_critic: int, seed: int, sharding,
                path: str = "", split: str = "train", data_dir: str = "",
                image_size: int = 0, source: str = "memory", workers: int = 2,
                prefetch: int = 2, on_error: str = "raise"):
  """A toy source for toy names, otherwise an image source: ``source='memory'`` loads the
  set into host memory ('npz', 'folder' or TFDS); ``source='grain'`` streams it with grain
  ('array_record': a folder written by ``jaxgan prepare``, 'folder', 'npz' or TFDS through
  ``tfds.data_source``) in ``workers`` processes, ``prefetch`` steps ahead."""
  if name in toy.DATASETS:
    return ToySource(name, batch_size, n_critic, seed, sharding)
  if source not in SOURCES:
    raise image_data.DataError(f"config.data.source={source!r}: one of {', '.join(SOURCES)}")
  if source == "grain":
    try:
      from jaxgan.data import grain_source
    except ImportError as e:
      raise image_data.DataError("config.data.source='grain' needs grain: pip install "
                                 f"'jaxgan[grain]' ({e})") from None
    reader = grain_source.open_reader(name, path, split, data_dir or None)
    return grain_source.GrainSource(reader, batch_size, n_critic, seed, sharding,
                                    workers=workers, prefetch=prefetch, on_error=on_error)
  if name == "array_record":
    raise image_data.DataError("config.data.name='array_record' is streamed: set "
                               "config.data.source='grain'")
  dataset = image_data.load(name, path, split, data_dir or None, image_size or None)
  return ImageSource(dataset, batch_size, n_critic, seed, sharding)
