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
(d, d) (float64). Files written here also record N and how the features were made
(``Provenance``), in extra arrays that pytorch-fid's reader (``f['mu'][:],
f['sigma'][:]``) ignores, so they load into pytorch-fid unchanged:

    n               int64 ()   the number of images
    mode            str ()     the preprocessing mode (jaxgan.metrics.preprocess.MODES)
    weights_sha256  str ()     SHA-256 of the Inception weights
                               (jaxgan.metrics.evaluate.weights_sha256)
    image_size      int64 (2,) (H, W) of the images before the resize to 299x299

Two sets of statistics are comparable only if they were made the same way:
``check_comparable`` refuses (StatisticsError) when a field recorded on both sides
differs, naming each difference, and warns when a side does not record it (plain
pytorch-fid or TTUR files, which hold only mu and sigma).

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
class Provenance:
  """How features were made, besides the images themselves (None: not recorded)."""

  mode: str | None = None                    # Preprocessing (preprocess.MODES).
  weights_sha256: str | None = None          # evaluate.weights_sha256 of the Inception.
  image_size: tuple[int, int] | None = None  # (H, W) of the images, before the resize.

  def describe(self) -> str:
    """"--mode 'pytorch', Inception weights SHA-256 1a2b3c4d5e6f..., image size 32x32"
    (fields not recorded are left out)."""
    parts = [f"{LABELS[f]} {_shown(f, getattr(self, f))}" for f in FIELDS
             if getattr(self, f) is not None]
    return ", ".join(parts) if parts else "nothing recorded"


FIELDS = ("mode", "weights_sha256", "image_size")
LABELS = {"mode": "--mode", "weights_sha256": "Inception weights SHA-256",
          "image_size": "image size"}


def _shown(field: str, value) -> str:
  if field == "image_size":
    return f"{value[0]}x{value[1]}"
  if field == "weights_sha256":
    return f"{value[:12]}..."
  return repr(value)


@dataclasses.dataclass(frozen=True)
class Statistics:
  """Mean and covariance of a set of features; ``n`` features (None when not recorded)."""

  mu: np.ndarray
  sigma: np.ndarray
  n: int | None = None
  name: str = ""
  provenance: Provenance = dataclasses.field(default_factory=Provenance)


def _unrecorded(p: Provenance, name: str, q: Provenance, other: str) -> str | None:
  """A warning line when ``p`` lacks fields that ``q`` records, else None."""
  missing = [LABELS[f] for f in FIELDS if getattr(p, f) is None and getattr(q, f) is not None]
  if not missing:
    return None
  if all(getattr(p, f) is None for f in FIELDS):
    return (f"warning: {name} records no provenance (a plain pytorch-fid or TTUR statistics "
            f"file?): it is comparable with {other} only if it was made the same way "
            f"({q.describe()})")
  return f"warning: {name} does not record its {', '.join(missing)}; assuming it matches {other}"


def check_comparable(a: Statistics | Provenance, b: Statistics | Provenance,
                     names: tuple[str, str] | None = None) -> list[str]:
  """Warning lines about fields one side does not record; StatisticsError when a field
  recorded on both sides differs (mode, Inception weights, image size), naming each.

  A FID between features made with different preprocessing, weights or image sizes
  measures those differences as well as the images'. ``names`` default to the
  statistics' names.
  """
  if names is None:
    names = tuple(getattr(s, "name", "") or f"statistics {i + 1}" for i, s in enumerate((a, b)))
  pa, pb = (s.provenance if isinstance(s, Statistics) else s for s in (a, b))
  diffs = [f"{LABELS[f]} {_shown(f, getattr(pa, f))} vs {_shown(f, getattr(pb, f))}"
           for f in FIELDS if None not in (getattr(pa, f), getattr(pb, f))
           and getattr(pa, f) != getattr(pb, f)]
  if diffs:
    raise StatisticsError(f"{names[0]} and {names[1]} were made differently "
                          f"({'; '.join(diffs)}): a FID between them would measure that; "
                          "compute both with the same --mode, Inception weights and image size")
  lines = [_unrecorded(pa, names[0], pb, names[1]), _unrecorded(pb, names[1], pa, names[0])]
  return [line for line in lines if line]


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
  """Sums the statistics of all JAX processes (hosts); the identity with one process.

  Gathered in float64 (x64 enabled for the transfer; without it JAX would round the sums
  to float32, ~1e-5 relative error in the covariance) and summed on every host, so each
  one holds the same totals.
  """
  if jax.process_count() == 1:
    return stats
  from jax.experimental import multihost_utils
  with jax.enable_x64(True):
    n, total, outer = multihost_utils.process_allgather(
        (np.asarray([stats.n], np.int64), stats.total, stats.outer))
    n, total, outer = (np.asarray(a) for a in (n, total, outer))
  return FeatureStats(int(np.sum(n)), np.sum(total, axis=0), np.sum(outer, axis=0))


def save_statistics(path: str | os.PathLike, mu, sigma, n: int | None = None,
                    provenance: Provenance | None = None) -> None:
  """Writes pytorch-fid's statistics file: an .npz with float64 ``mu`` and ``sigma``, and
  ``n`` and the fields of ``provenance`` that are not None (see the module docstring).

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
  prov = provenance or Provenance()
  if prov.mode is not None:
    extra["mode"] = np.asarray(str(prov.mode))
  if prov.weights_sha256 is not None:
    extra["weights_sha256"] = np.asarray(str(prov.weights_sha256))
  if prov.image_size is not None:
    extra["image_size"] = np.asarray(prov.image_size, np.int64)
  np.savez(path, mu=mu, sigma=sigma, **extra)


def _read_provenance(f, path: pathlib.Path) -> Provenance:
  """The provenance arrays of an open .npz (absent ones None); StatisticsError if malformed."""
  def text(key):
    if key not in f:
      return None
    value = f[key]
    if value.shape != () or value.dtype.kind != "U":
      raise StatisticsError(f"{path}: {key} must be a string, got {value.dtype} {value.shape}")
    return str(value)

  size = None
  if "image_size" in f:
    value = f["image_size"]
    if value.shape != (2,) or value.dtype.kind not in "iu" or value.min() < 1:
      raise StatisticsError(f"{path}: image_size must be 2 positive integers (H, W), got "
                            f"{value.dtype} {value.shape}")
    size = (int(value[0]), int(value[1]))
  return Provenance(text("mode"), text("weights_sha256"), size)


def read_statistics(path: str | os.PathLike) -> Statistics:
  """Statistics of a pytorch-fid-style .npz file (float64; ``n`` and the provenance if the
  file has them), checked by ``check_statistics`` (errors name the file)."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such statistics file")
  with np.load(path) as f:
    if "mu" not in f or "sigma" not in f:
      raise StatisticsError(f"{path}: a statistics file has arrays 'mu' and 'sigma'; this "
                            f"one has {sorted(f.files)}")
    mu, sigma = np.asarray(f["mu"], np.float64), np.asarray(f["sigma"], np.float64)
    n = int(f["n"]) if "n" in f and np.size(f["n"]) == 1 else None
    provenance = _read_provenance(f, path)
  if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
    raise StatisticsError(f"{path}: mu must be (d,) and sigma (d, d); got {mu.shape}, "
                          f"{sigma.shape}")
  mu, sigma = check_statistics(mu, sigma, f"{path}: mu", f"{path}: sigma")
  return Statistics(mu, sigma, n, str(path), provenance)


def load_statistics(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
  """(mu, sigma) (float64) of a pytorch-fid-style .npz statistics file (``read_statistics``)."""
  stats = read_statistics(path)
  return stats.mu, stats.sigma
