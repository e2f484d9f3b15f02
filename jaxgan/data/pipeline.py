"""Deterministic minibatches of an in-memory image dataset, addressed by step.

The examples are visited in epochs, each a permutation drawn from (seed, epoch); the
batch of step s holds positions [s K, (s+1) K) of that endless sequence, with K =
n_critic x global batch size. A batch is therefore a pure function of (seed, step):
resuming at step s needs no iterator state beyond s, and every batch has the same static
shape. With several hosts, each host gathers only its own slice of the global batch.
"""

from __future__ import annotations

import functools

import numpy as np

from jaxgan.data.images import DataError, ImageDataset, to_model_range


class ImageBatches:
  """``batch(step)`` -> {'image': float32 (n_critic, B_local, H, W, C) in [-1, 1],
  'label': int32 (n_critic, B_local)} (labels only for labelled datasets)."""

  def __init__(self, dataset: ImageDataset, batch_size: int, n_critic: int = 1, seed: int = 0,
               process_index: int = 0, process_count: int = 1):
    n = len(dataset.images)
    if n < batch_size:
      raise DataError(f"{dataset.source}: {n} examples, fewer than one batch of "
                      f"batch_size={batch_size}")
    if batch_size % process_count:
      raise DataError(f"batch_size={batch_size} is not divisible by the number "
                      f"of hosts ({process_count})")
    self.dataset, self.batch_size, self.n_critic, self.seed = dataset, batch_size, n_critic, seed
    self.process_index, self.process_count = process_index, process_count

  @functools.lru_cache(maxsize=4)
  def _permutation(self, epoch: int) -> np.ndarray:
    return np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset.images))

  def indices(self, step: int) -> np.ndarray:
    """Dataset indices of the global batch of ``step``, shape (n_critic, batch_size)."""
    n, k = len(self.dataset.images), self.n_critic * self.batch_size
    positions = step * k + np.arange(k, dtype=np.int64)
    epochs, offsets = positions // n, positions % n
    out = np.empty(k, np.int64)
    for epoch in np.unique(epochs):
      sel = epochs == epoch
      out[sel] = self._permutation(int(epoch))[offsets[sel]]
    return out.reshape(self.n_critic, self.batch_size)

  def batch(self, step: int) -> dict[str, np.ndarray]:
    """This host's part of the batch of ``step``."""
    local = self.batch_size // self.process_count
    idx = self.indices(step)[:, self.process_index * local:(self.process_index + 1) * local]
    images = to_model_range(self.dataset.images[idx])
    out = {"image": images}
    if self.dataset.labels is not None:
      out["label"] = self.dataset.labels[idx]
    return out
