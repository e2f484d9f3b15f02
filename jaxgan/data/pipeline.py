"""Deterministic minibatches of an in-memory image dataset, addressed by step.

The examples are visited in epochs, each a permutation drawn from (seed, epoch); the
batch of step s holds positions [s K, (s+1) K) of that endless sequence, with K =
n_critic x global batch size. A batch is therefore a pure function of (seed, step):
resuming at step s needs no iterator state beyond s, and every batch has the same static
shape. With several hosts, each host gathers only its own slice of the global batch, so
the hosts together read each example of an epoch once. ``BatchPlan`` is that plan alone,
shared with the streamed source (``jaxgan.data.grain_source``).
"""

from __future__ import annotations

import functools

import numpy as np

from jaxgan.data.images import DataError, ImageDataset, to_model_range


class BatchPlan:
  """Which examples the batch of a step holds, for a dataset of ``n`` examples: the same
  plan for the in-memory source (``ImageBatches``) and the streamed one
  (``jaxgan.data.grain_source``), so both give the same batches for the same seed."""

  def __init__(self, n: int, batch_size: int, n_critic: int = 1, seed: int = 0,
               process_index: int = 0, process_count: int = 1, source: str = ""):
    if n < batch_size:
      raise DataError(f"{source}: {n} examples, fewer than one batch of "
                      f"batch_size={batch_size}")
    if batch_size % process_count:
      raise DataError(f"batch_size={batch_size} is not divisible by the number "
                      f"of hosts ({process_count})")
    self.n, self.batch_size, self.n_critic, self.seed = n, batch_size, n_critic, seed
    self.process_index, self.process_count = process_index, process_count

  @functools.lru_cache(maxsize=4)
  def _permutation(self, epoch: int) -> np.ndarray:
    return np.random.default_rng([self.seed, epoch]).permutation(self.n)

  def indices(self, step: int) -> np.ndarray:
    """Dataset indices of the global batch of ``step``, shape (n_critic, batch_size)."""
    n, k = self.n, self.n_critic * self.batch_size
    positions = step * k + np.arange(k, dtype=np.int64)
    epochs, offsets = positions // n, positions % n
    out = np.empty(k, np.int64)
    for epoch in np.unique(epochs):
      sel = epochs == epoch
      out[sel] = self._permutation(int(epoch))[offsets[sel]]
    return out.reshape(self.n_critic, self.batch_size)

  def local_indices(self, step: int) -> np.ndarray:
    """This host's columns of ``indices(step)``: (n_critic, batch_size / process_count)."""
    local = self.batch_size // self.process_count
    return self.indices(step)[:, self.process_index * local:(self.process_index + 1) * local]


class ImageBatches:
  """``batch(step)`` -> {'image': float32 (n_critic, B_local, H, W, C) in [-1, 1],
  'label': int32 (n_critic, B_local)} (labels only for labelled datasets)."""

  def __init__(self, dataset: ImageDataset, batch_size: int, n_critic: int = 1, seed: int = 0,
               process_index: int = 0, process_count: int = 1):
    self.dataset = dataset
    self.plan = BatchPlan(len(dataset.images), batch_size, n_critic, seed, process_index,
                          process_count, dataset.source)

  def indices(self, step: int) -> np.ndarray:
    """Dataset indices of the global batch of ``step``, shape (n_critic, batch_size)."""
    return self.plan.indices(step)

  def raw_batch(self, step: int) -> dict[str, np.ndarray]:
    """This host's part of the batch of ``step``, images still uint8."""
    idx = self.plan.local_indices(step)
    out = {"image": self.dataset.images[idx]}
    if self.dataset.labels is not None:
      out["label"] = self.dataset.labels[idx]
    return out

  def batch(self, step: int) -> dict[str, np.ndarray]:
    """This host's part of the batch of ``step``, images in [-1, 1]."""
    out = self.raw_batch(step)
    return {**out, "image": to_model_range(out["image"])}
