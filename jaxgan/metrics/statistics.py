"""Streaming feature mean and covariance, and pytorch-fid's ``.npz`` statistics files.

The FID needs the mean ``mu`` and covariance ``sigma`` of the Inception features of
tens of thousands of images. ``FeatureStats`` accumulates, in float64 on the host,

    n,   s = sum_i x_i,   S = sum_i x_i x_i^T

over batches; these add up, so statistics from several devices, processes or runs
merge by summing (``merge``, ``merge_across_processes``). Then

    mu    = s / n
    sigma = (S - n mu mu^T) / (n - 1)

the unbiased covariance that ``np.cov(x, rowvar=False)`` (pytorch-fid) returns. float64
keeps the cancellation in ``S - n mu mu^T`` harmless for Inception features (means and
standard deviations of the same order).

Files: pytorch-fid's ``--save-stats`` format, an ``.npz`` with ``mu`` (d,) and ``sigma``
(d, d) (float64); files written here also carry ``n`` (the number of images) and load
into pytorch-fid unchanged.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import jax
import numpy as np


@dataclasses.dataclass
class FeatureStats:
  """Running n, sum and sum of outer products of d-dimensional features (float64)."""

  n: int
  total: np.ndarray        # (d,)
  outer: np.ndarray        # (d, d)

  @classmethod
  def zeros(cls, dim: int) -> "FeatureStats":
    return cls(0, np.zeros(dim), np.zeros((dim, dim)))

  @classmethod
  def from_features(cls, features) -> "FeatureStats":
    features = np.asarray(features)
    stats = cls.zeros(features.shape[-1])
    stats.update(features)
    return stats

  @property
  def dim(self) -> int:
    return self.total.shape[0]

  def update(self, features) -> "FeatureStats":
    """Adds a batch (B, d) of features in place; returns self."""
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[1] != self.dim:
      raise ValueError(f"features must have shape (B, {self.dim}), got {x.shape}")
    self.n += x.shape[0]
    self.total += x.sum(axis=0)
    self.outer += x.T @ x
    return self

  def merge(self, other: "FeatureStats") -> "FeatureStats":
    """Statistics of the union of both sets of features (a new object)."""
    if other.dim != self.dim:
      raise ValueError(f"cannot merge statistics of {self.dim}- and {other.dim}-dim features")
    return FeatureStats(self.n + other.n, self.total + other.total, self.outer + other.outer)

  def mean(self) -> np.ndarray:
    if self.n < 1:
      raise ValueError("the mean of no features is undefined")
    return self.total / self.n

  def covariance(self) -> np.ndarray:
    """Unbiased (n - 1) covariance, symmetric by construction."""
    if self.n < 2:
      raise ValueError(f"the covariance needs at least 2 features, got {self.n}")
    mu = self.mean()
    sigma = (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)
    return 0.5 * (sigma + sigma.T)


def merge_across_processes(stats: FeatureStats) -> FeatureStats:
  """Sums the statistics of all JAX processes (hosts); the identity with one process."""
  if jax.process_count() == 1:
    return stats
  from jax.experimental import multihost_utils
  n, total, outer = multihost_utils.process_allgather(
      (np.asarray([stats.n], np.float64), stats.total, stats.outer))
  return FeatureStats(int(round(np.sum(n))), np.sum(total, axis=0), np.sum(outer, axis=0))


def save_statistics(path: str | os.PathLike, mu, sigma, n: int | None = None) -> None:
  """Writes pytorch-fid's statistics file: an .npz with float64 ``mu`` and ``sigma``."""
  mu, sigma = np.asarray(mu, np.float64), np.asarray(sigma, np.float64)
  if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
    raise ValueError(f"mu must be (d,) and sigma (d, d); got {mu.shape} and {sigma.shape}")
  path = pathlib.Path(path)
  if path.suffix != ".npz":
    raise ValueError(f"{path}: statistics files end in .npz (np.savez would append it)")
  path.parent.mkdir(parents=True, exist_ok=True)
  extra = {} if n is None else {"n": np.asarray(n, np.int64)}
  np.savez(path, mu=mu, sigma=sigma, **extra)


def load_statistics(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
  """Reads ``mu``, ``sigma`` (float64) from a pytorch-fid-style .npz statistics file."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such statistics file")
  with np.load(path) as f:
    if "mu" not in f or "sigma" not in f:
      raise ValueError(f"{path}: a statistics file has arrays 'mu' and 'sigma'; this one "
                       f"has {sorted(f.files)}")
    mu, sigma = np.asarray(f["mu"], np.float64), np.asarray(f["sigma"], np.float64)
  if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
    raise ValueError(f"{path}: mu must be (d,) and sigma (d, d); got {mu.shape}, {sigma.shape}")
  return mu, sigma
