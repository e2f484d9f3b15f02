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

Checks (``check_statistics``; on every file read or written and every input of the
Frechet distance): ``mu`` and ``sigma`` finite, ``mu`` (d,) and ``sigma`` (d, d);
``sigma`` symmetric, max |S - S^T| <= 1e-5 max |S|, and positive semi-definite,
lambda_min(S) >= -1e-5 ||S||_F (a covariance rounded to float32 is off by ~3e-9 of its
scale, so only matrices that no covariance computation produces fail). A failure raises
``StatisticsError`` naming the file or argument and what is wrong.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import jax
import numpy as np

SYMMETRY_RTOL = 1e-5  # max |S - S^T| <= SYMMETRY_RTOL * max |S|
PSD_RTOL = 1e-5       # lambda_min(S) >= -PSD_RTOL * ||S||_F


class StatisticsError(ValueError):
  """Feature statistics (mu, sigma) that are not a mean and a covariance."""


def _finite(a: np.ndarray, name: str) -> None:
  bad = int(a.size - np.count_nonzero(np.isfinite(a)))
  if bad:
    raise StatisticsError(f"{name} has {bad} non-finite entries (NaN or inf) of {a.size}")


def _symmetric(sigma: np.ndarray, name: str) -> None:
  asym, scale = float(np.max(np.abs(sigma - sigma.T))), float(np.max(np.abs(sigma)))
  if asym > SYMMETRY_RTOL * scale:
    raise StatisticsError(f"{name} is not symmetric, so not a covariance: max |S - S^T| = "
                          f"{asym:.3g}, more than {SYMMETRY_RTOL:g} x max |S| = {scale:.3g}")


def _positive_semidefinite(sigma: np.ndarray, name: str) -> None:
  """lambda_min >= -tol: Cholesky of S + tol I (cheap); eigenvalues only for the message."""
  tol = PSD_RTOL * float(np.linalg.norm(sigma))
  sym = 0.5 * (sigma + sigma.T)
  try:
    np.linalg.cholesky(sym + tol * np.eye(len(sym)))
    return
  except np.linalg.LinAlgError:
    w = np.linalg.eigvalsh(sym)
  if w[0] < -tol:
    raise StatisticsError(
        f"{name} is not positive semi-definite, so not a covariance: smallest eigenvalue "
        f"{w[0]:.4g} (largest {w[-1]:.4g}; rounding allows down to -{tol:.3g})")


def check_statistics(mu, sigma, mu_name: str = "mu",
                     sigma_name: str = "sigma") -> tuple[np.ndarray, np.ndarray]:
  """(mu, sigma) as float64 arrays (d,), (d, d) if they are a mean and a covariance.

  Raises StatisticsError naming ``mu_name`` / ``sigma_name`` otherwise: non-finite
  entries, wrong shapes, sigma not symmetric or not positive semi-definite (within the
  tolerances in the module docstring). Scalars are taken as d = 1.
  """
  mu = np.atleast_1d(np.asarray(mu, np.float64))
  sigma = np.atleast_2d(np.asarray(sigma, np.float64))
  if mu.ndim != 1:
    raise StatisticsError(f"{mu_name} must be a vector (d,), got shape {mu.shape}")
  d = mu.shape[0]
  if sigma.shape != (d, d):
    raise StatisticsError(f"{sigma_name} must be ({d}, {d}) to match {mu_name} {mu.shape}, "
                          f"got {sigma.shape}")
  _finite(mu, mu_name)
  _finite(sigma, sigma_name)
  _symmetric(sigma, sigma_name)
  _positive_semidefinite(sigma, sigma_name)
  return mu, sigma


@dataclasses.dataclass(frozen=True)
class Statistics:
  """Mean and covariance of a set of features; ``n`` features (None when not recorded)."""

  mu: np.ndarray
  sigma: np.ndarray
  n: int | None = None
  name: str = ""


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
  """Writes pytorch-fid's statistics file: an .npz with float64 ``mu`` and ``sigma``.

  Refuses (StatisticsError, nothing written) what ``check_statistics`` refuses.
  """
  path = pathlib.Path(path)
  mu, sigma = np.asarray(mu, np.float64), np.asarray(sigma, np.float64)
  if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
    raise StatisticsError(f"{path} (not written): mu must be (d,) and sigma (d, d); got "
                          f"{mu.shape} and {sigma.shape}")
  check_statistics(mu, sigma, f"{path} (not written): mu", f"{path} (not written): sigma")
  if path.suffix != ".npz":
    raise ValueError(f"{path}: statistics files end in .npz (np.savez would append it)")
  path.parent.mkdir(parents=True, exist_ok=True)
  extra = {} if n is None else {"n": np.asarray(n, np.int64)}
  np.savez(path, mu=mu, sigma=sigma, **extra)


def read_statistics(path: str | os.PathLike) -> Statistics:
  """Statistics of a pytorch-fid-style .npz file (float64; ``n`` if the file has it),
  checked by ``check_statistics`` (errors name the file)."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such statistics file")
  with np.load(path) as f:
    if "mu" not in f or "sigma" not in f:
      raise StatisticsError(f"{path}: a statistics file has arrays 'mu' and 'sigma'; this "
                            f"one has {sorted(f.files)}")
    mu, sigma = np.asarray(f["mu"], np.float64), np.asarray(f["sigma"], np.float64)
    n = int(f["n"]) if "n" in f and np.size(f["n"]) == 1 else None
  if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
    raise StatisticsError(f"{path}: mu must be (d,) and sigma (d, d); got {mu.shape}, "
                          f"{sigma.shape}")
  mu, sigma = check_statistics(mu, sigma, f"{path}: mu", f"{path}: sigma")
  return Statistics(mu, sigma, n, str(path))


def load_statistics(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
  """(mu, sigma) (float64) of a pytorch-fid-style .npz statistics file (``read_statistics``)."""
  stats = read_statistics(path)
  return stats.mu, stats.sigma
