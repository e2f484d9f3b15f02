"""The Frechet distance between two Gaussians: the FID on Inception statistics.

Heusel et al. 2017 ("GANs trained by a two time-scale update rule...", arXiv:1706.08500,
eq. (6)), after Dowson & Landau 1982: for N(mu1, S1) and N(mu2, S2),

    d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr (S1 S2)^{1/2}.

pytorch-fid (``calculate_frechet_distance``) takes ``scipy.linalg.sqrtm(S1 @ S2)``, a
Schur-decomposition square root of a non-symmetric matrix. For covariances S1, S2
(symmetric positive semi-definite) the same trace comes from symmetric matrices only:
with the Cholesky factor S1 = L L^T, S1 S2 = L (L^T S2 L) L^{-1} is similar to the PSD
matrix M = L^T S2 L, so

    tr (S1 S2)^{1/2} = tr M^{1/2} = sum_i sqrt(lambda_i(M)),

one Cholesky factorisation and one symmetric eigendecomposition, in float64 in JAX
(eigenvalues below 0, rounding noise, are clipped to 0). When S1 has no Cholesky factor
(singular and no offset) we use M = S1^{1/2} S2 S1^{1/2} from S1's eigendecomposition
instead. This is faster than ``sqrtm`` and never produces the complex parts pytorch-fid
has to discard.

Singular covariances (fewer images than dimensions + 1, or constant features): the
square root is then ill-conditioned (an eigenvalue of size delta contributes
sqrt(delta)), so any two implementations disagree in the low digits. pytorch-fid falls
back to ``S + eps I`` (eps = 1e-6) when ``sqrtm`` fails. We take that fallback whenever
S1 or S2 is numerically singular (its Cholesky factorisation fails, or its smallest
pivot is at most d * 2.2e-16 times the largest), with a warning, so the result is the
well-defined FID of the regularised statistics and agrees with pytorch-fid's eps
branch; ``eps=0`` turns it off (the exact limit with clipped eigenvalues). Recent SciPy
versions rarely fail there, so pytorch-fid itself usually reports the unregularised value,
which differs from the regularised one by roughly 2 d eps plus the square-root terms
(measured: 1e-3 absolute on a 0.46 FID of 8 images in 2048 dimensions).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np


def _check(mu1, sigma1, mu2, sigma2):
  mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
  sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
  sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
  d = mu1.shape[0]
  if mu1.shape != (d,) or mu2.shape != (d,):
    raise ValueError(f"means must be vectors of the same length, got {mu1.shape} and {mu2.shape}")
  if sigma1.shape != (d, d) or sigma2.shape != (d, d):
    raise ValueError(f"covariances must be ({d}, {d}) to match the means, got {sigma1.shape} "
                     f"and {sigma2.shape}")
  for name, a in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
    if not np.isfinite(a).all():
      raise ValueError(f"{name} has non-finite entries (NaN or inf)")
  return mu1, sigma1, mu2, sigma2


def _sym(a, offset):
  return 0.5 * (a + a.T) + offset * jnp.eye(a.shape[0], dtype=a.dtype)


def _eigvalsh(m):
  """Eigenvalues of the symmetric part of m (LAPACK syevd on CPU, cuSOLVER on GPU)."""
  return jnp.linalg.eigvalsh(0.5 * (m + m.T))


def _is_singular(w):
  """Smallest of the values w (eigenvalues or pivots, >= 0) <= d * machine eps * largest."""
  return jnp.min(w) <= w.shape[0] * jnp.finfo(w.dtype).eps * jnp.max(jnp.abs(w))


@jax.jit
def _cholesky(sigma, offset):
  """(L, singular): S + offset I = L L^T; singular when it fails or a pivot L_kk^2 is ~0.

  Pivots lie between the extreme eigenvalues, so a matrix that is non-singular by the
  eigenvalue criterion is never reported singular.
  """
  chol = jnp.linalg.cholesky(_sym(sigma, offset))
  finite = jnp.all(jnp.isfinite(chol))
  pivots = jnp.where(finite, jnp.diagonal(chol) ** 2, 0.0)
  return chol, ~finite | _is_singular(pivots)


@jax.jit
def _trace_sqrt_cholesky(l1, sigma2, offset):
  """tr (S1 S2')^{1/2} = sum sqrt(eig(L1^T S2' L1)) for S1 = L1 L1^T, S2' = S2 + offset I."""
  lam = _eigvalsh(l1.T @ _sym(sigma2, offset) @ l1)
  return jnp.sum(jnp.sqrt(jnp.clip(lam, 0.0)))


@jax.jit
def _trace_sqrt_eigh(sigma1, sigma2, offset):
  """The same trace through S1'^{1/2} S2' S1'^{1/2}, for S1' that Cholesky cannot factor."""
  w1, v1 = jnp.linalg.eigh(_sym(sigma1, offset))
  root1 = (v1 * jnp.sqrt(jnp.clip(w1, 0.0))) @ v1.T
  lam = _eigvalsh(root1 @ _sym(sigma2, offset) @ root1)
  return jnp.sum(jnp.sqrt(jnp.clip(lam, 0.0)))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
  """d^2 between N(mu1, sigma1) and N(mu2, sigma2), in float64 (see the module docstring).

  When a covariance is numerically singular and ``eps`` > 0, warns and returns the
  distance of the statistics with ``eps`` added to both diagonals (pytorch-fid's
  fallback). Costs about one 2048x2048 symmetric eigendecomposition (seconds on a CPU).
  """
  mu1, sigma1, mu2, sigma2 = _check(mu1, sigma1, mu2, sigma2)
  with jax.enable_x64(True):
    s1, s2 = jnp.asarray(sigma1), jnp.asarray(sigma2)
    l1, singular1 = _cholesky(s1, 0.0)
    _, singular2 = _cholesky(s2, 0.0)
    offset = eps if eps > 0 and bool(singular1 | singular2) else 0.0
    if offset:
      l1, singular1 = _cholesky(s1, offset)
    if bool(singular1):  # S1 (+ offset) has no usable Cholesky factor.
      tr_covmean = _trace_sqrt_eigh(s1, s2, offset)
    else:
      tr_covmean = _trace_sqrt_cholesky(l1, s2, offset)
    tr_covmean = float(tr_covmean)
  if offset:
    warnings.warn(
        f"a covariance matrix is singular (too few samples for {mu1.shape[0]} dimensions?); "
        f"adding {eps} to both diagonals, as pytorch-fid does when sqrtm fails. FID values "
        "from so few samples are strongly biased.", RuntimeWarning, stacklevel=2)
  diff = mu1 - mu2
  d = mu1.shape[0]
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) + 2 * d * offset
               - 2.0 * tr_covmean)
