"""The Frechet distance between two Gaussians: the FID on Inception statistics.

Heusel et al. 2017 ("GANs trained by a two time-scale update rule...", arXiv:1706.08500,
eq. (6)), after Dowson & Landau 1982: for N(mu1, S1) and N(mu2, S2),

    d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr (S1 S2)^{1/2}.

Convention: pytorch-fid's ``calculate_frechet_distance`` (v0.3.0), at every number of
samples N. It takes ``covmean = scipy.linalg.sqrtm(S1 @ S2)``; only if covmean has a
non-finite entry does it retry with ``eps`` (1e-6) added to both diagonals (tr S1 and
tr S2 keep no offset); it uses the real part of covmean and raises if the imaginary part
of its diagonal exceeds 1e-3. For checked PSD inputs that imaginary part is rounding
noise (see below) that grows with the norm of the covariances, so we warn and use the
real part instead of raising. Two routes give this value:

Device route, when both covariances are non-singular (Cholesky succeeds and its
smallest pivot exceeds d * 2.2e-16 times the largest: more than d samples per set, no
degenerate features). For S1 = L L^T, S1 S2 = L (L^T S2 L) L^{-1} is similar to the PSD
matrix M = L^T S2 L, so tr (S1 S2)^{1/2} = sum_i sqrt(lambda_i(M)): one Cholesky and
one symmetric eigendecomposition in float64 on the default device (cuSOLVER on GPUs).
All eigenvalues are then well above rounding and it agrees with scipy's sqrtm to ~1e-12
relative (measured at d = 2048: 5e-12 for N = d + 1, 6e-15 for N = 2d).

Host route, when either covariance is singular (N <= d samples in a set, duplicated
samples, constant or linearly dependent features): pytorch-fid's arithmetic itself, in
float64 numpy: ``scipy.linalg.sqrtm(S1.dot(S2))``, the eps retry, the real part. S1 S2
then has up to d zero eigenvalues, which every floating-point method returns as rounding
noise of size ~eps ||S1|| ||S2||, and each adds Re sqrt(noise) ~ 1e-8 ||S|| to the
trace: the last digits depend on the method, not on the data. Measured against
pytorch-fid's value (500 samples per set, d = 2048, FID 12075): the symmetric form with
eigenvalues clipped at 0 is 1.3e-3 off, the exact value (noise eigenvalues dropped)
4.0e-3, numpy's ``eigvals`` of the product 1e-4, a complex Schur form of the product
4e-6, and sqrtm of the same product 0. (On 500 real images per set, FID 2.06, the
clipped symmetric form was 1e-4 off; adding eps whenever a covariance is singular, as
jaxgan did before, 2.4e-3.) This route costs one d x d sqrtm on the CPU (10-60 s at
d = 2048); SciPy is a dependency. pytorch-fid itself rounds differently on another BLAS
library, by up to the noise terms above.

Rounding below zero: for PSD covariances d^2 >= 0 exactly, so a computed value in
[-bound, 0) is rounding and is returned as 0.0, with bound = 10 d eps (||mu1 - mu2||^2 +
tr S1 + tr S2), plus 2 d sqrt(eps ||S1||_F ||S2||_F) on the host route for its noise
terms (pytorch-fid gives about -5e-6 ||S||_2 for a set of N < d samples against itself).
A value below -bound is returned unchanged, with a warning.

Inputs are checked first (``jaxgan.metrics.statistics.check_statistics``: finite,
shapes, sigma symmetric and positive semi-definite within 1e-5 of its scale);
``StatisticsError`` names the argument.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.metrics.statistics import StatisticsError, check_statistics

EPS = 1e-6  # pytorch-fid's offset when sqrtm(S1 S2) is not finite.
IMAG_ATOL = 1e-3  # pytorch-fid's limit on the imaginary part of diag sqrtm(S1 S2).
_F64_EPS = float(np.finfo(np.float64).eps)


def _sym(a):
  return 0.5 * (a + a.T)


@jax.jit
def _cholesky(sigma):
  """(L, singular): S = L L^T; singular when it fails or a pivot L_kk^2 <= d eps max pivot.

  Pivots lie between the extreme eigenvalues, so a matrix that is non-singular by the
  eigenvalue criterion is never reported singular.
  """
  chol = jnp.linalg.cholesky(_sym(sigma))
  finite = jnp.all(jnp.isfinite(chol))
  pivots = jnp.where(finite, jnp.diagonal(chol) ** 2, 0.0)
  tiny = pivots.shape[0] * jnp.finfo(pivots.dtype).eps * jnp.max(pivots)
  return chol, ~finite | (jnp.min(pivots) <= tiny)


@jax.jit
def _trace_sqrt_device(l1, sigma2):
  """tr (S1 S2)^{1/2} = sum sqrt(eig(L1^T S2 L1)) for S1 = L1 L1^T (LAPACK syevd / cuSOLVER)."""
  m = l1.T @ _sym(sigma2) @ l1
  lam = jnp.linalg.eigvalsh(_sym(m))
  return jnp.sum(jnp.sqrt(jnp.clip(lam, 0.0)))


def _device_trace(sigma1: np.ndarray, sigma2: np.ndarray) -> float | None:
  """The device route's trace, or None when either covariance is singular."""
  with jax.enable_x64(True):
    l1, singular1 = _cholesky(jnp.asarray(sigma1))
    if bool(singular1):
      return None
    _, singular2 = _cholesky(jnp.asarray(sigma2))
    if bool(singular2):
      return None
    return float(_trace_sqrt_device(l1, jnp.asarray(sigma2)))


def _sqrtm_product(sigma1: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
  from scipy import linalg  # Installed with JAX.
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", linalg.LinAlgWarning)  # "Matrix is singular": expected.
    return linalg.sqrtm(sigma1.dot(sigma2))


def _host_trace(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
  """Re tr sqrtm(S1 S2) as pytorch-fid computes it (scipy; eps retry only if not finite)."""
  covmean = _sqrtm_product(sigma1, sigma2)
  if not np.isfinite(covmean).all():
    if not eps > 0:
      raise StatisticsError("sqrtm(sigma1 sigma2) is not finite and eps <= 0 allows no "
                            "offset; pass eps > 0 (pytorch-fid uses 1e-6)")
    warnings.warn(f"sqrtm(sigma1 sigma2) is not finite; adding {eps:g} to both diagonals, as "
                  "pytorch-fid does", RuntimeWarning, stacklevel=3)
    offset = eps * np.eye(sigma1.shape[0])
    covmean = _sqrtm_product(sigma1 + offset, sigma2 + offset)
  if np.iscomplexobj(covmean):
    imag = float(np.max(np.abs(np.diagonal(covmean).imag)))
    if imag > IMAG_ATOL:  # Rounding noise of checked PSD inputs, large at a large scale.
      warnings.warn(f"sqrtm(sigma1 sigma2) has an imaginary diagonal part up to {imag:.3g} "
                    f"(> {IMAG_ATOL:g}): pytorch-fid raises here; using the real part",
                    RuntimeWarning, stacklevel=3)
    covmean = covmean.real
  trace = float(np.trace(covmean))
  if not np.isfinite(trace):
    raise StatisticsError("sqrtm(sigma1 sigma2) is not finite even with the eps offset")
  return trace


def rounding_bound(mu1, sigma1, mu2, sigma2, host_route: bool) -> float:
  """How far below 0 rounding can take d^2 (see the module docstring)."""
  d = mu1.shape[0]
  diff = mu1 - mu2
  bound = 10 * d * _F64_EPS * (diff @ diff + abs(np.trace(sigma1)) + abs(np.trace(sigma2)))
  if host_route:
    bound += 2 * d * np.sqrt(_F64_EPS * np.linalg.norm(sigma1) * np.linalg.norm(sigma2))
  return float(bound)


def _clamp(value: float, bound: float) -> float:
  if value >= 0.0:
    return value
  if -value <= bound:
    return 0.0  # Rounding: exact d^2 >= 0.
  warnings.warn(f"Frechet distance {value:.6g} < 0 beyond rounding ({bound:.3g}); the "
                "covariances are not positive semi-definite enough", RuntimeWarning,
                stacklevel=3)
  return value


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = EPS, *,
                     names: tuple[str, str, str, str] = ("mu1", "sigma1", "mu2", "sigma2")
                     ) -> float:
  """d^2 between N(mu1, sigma1) and N(mu2, sigma2), as pytorch-fid computes it (float64).

  Non-singular covariances: on the device (Cholesky + symmetric eigenvalues). A singular
  one: warns, and takes scipy's sqrtm of sigma1 @ sigma2 on the host, with ``eps`` added
  to both diagonals only if that is not finite (pytorch-fid's rule). Values in
  [-rounding bound, 0) are returned as 0.0. ``names`` label the arguments in errors
  (StatisticsError: not finite, shapes, sigma not symmetric or not PSD).
  """
  mu1, sigma1 = check_statistics(mu1, sigma1, names[0], names[1])
  mu2, sigma2 = check_statistics(mu2, sigma2, names[2], names[3])
  if mu1.shape != mu2.shape:
    raise StatisticsError(f"{names[0]} and {names[2]} have different dimensions: "
                          f"{mu1.shape[0]} and {mu2.shape[0]}")
  tr_covmean = _device_trace(sigma1, sigma2)
  host_route = tr_covmean is None
  if host_route:
    warnings.warn(
        f"a covariance matrix is singular (from N <= {mu1.shape[0]} = d samples, or from "
        "degenerate features): computing it as pytorch-fid does, with scipy.linalg.sqrtm on "
        "the CPU (slow); a FID from so few samples is strongly biased", RuntimeWarning,
        stacklevel=2)
    tr_covmean = _host_trace(sigma1, sigma2, eps)
  diff = mu1 - mu2
  value = float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)
  return _clamp(value, rounding_bound(mu1, sigma1, mu2, sigma2, host_route))
