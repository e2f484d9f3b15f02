"""The Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs",
arXiv:1801.01401, sec. 4): the squared maximum mean discrepancy between Inception
features of two sets, with the polynomial kernel

    k(x, y) = (gamma x.y + coef0)^degree,   default gamma = 1/d, coef0 = 1, degree 3,

and its unbiased estimator on m samples from each set,

    MMD^2_u = 1/(m(m-1)) sum_{i!=j} [k(x_i, x_j) + k(y_i, y_j)] - 2/m^2 sum_{i,j} k(x_i, y_j).

As in torch-fidelity (``metric_kid.py``, after the authors' MMD-GAN code): the estimate
is averaged over ``subsets`` random subsets (default 100) of ``subset_size`` samples
(default 1000) drawn without replacement from each set by
``np.random.RandomState(seed)`` (default seed 2020; first from set 1, then from set 2,
per subset), and the mean and the (ddof=0) standard deviation over subsets are
reported. Unlike torch-fidelity, which refuses sets smaller than ``subset_size``, the
subset size is capped at the smaller set size (with a warning). Kernels are computed
in float64 with JAX (torch-fidelity uses float32).
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np


@functools.partial(jax.jit, static_argnames="degree")
def _mmd2_unbiased(x, y, gamma, coef0, degree):
  m = x.shape[0]
  hp = jax.lax.Precision.HIGHEST
  k = lambda a, b: (gamma * jnp.matmul(a, b.T, precision=hp) + coef0) ** degree  # noqa: E731
  kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
  within = (kxx.sum() - jnp.trace(kxx) + kyy.sum() - jnp.trace(kyy)) / (m * (m - 1))
  return within - 2.0 * kxy.sum() / (m * m)


def kernel_inception_distance(features1, features2, subsets: int = 100,
                              subset_size: int = 1000, degree: int = 3,
                              gamma: float | None = None, coef0: float = 1.0,
                              seed: int = 2020) -> tuple[float, float]:
  """(mean, std) of the unbiased polynomial-kernel MMD^2 over random subsets."""
  f1, f2 = np.asarray(features1), np.asarray(features2)
  if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
    raise ValueError(f"features must be (N1, d) and (N2, d), got {f1.shape} and {f2.shape}")
  for name, f in (("features1", f1), ("features2", f2)):
    if not np.isfinite(f).all():
      raise ValueError(f"{name} have {int(np.sum(~np.isfinite(f)))} NaN or inf entries "
                       "(NaN images?); the KID is undefined")
  n1, n2 = len(f1), len(f2)
  if min(n1, n2) < 2 or subsets < 1:
    raise ValueError(f"KID needs at least 2 samples per set and 1 subset; got {n1}, {n2} "
                     f"samples and {subsets} subsets")
  if subset_size > min(n1, n2):
    warnings.warn(f"KID subset size {subset_size} is larger than the sets ({n1}, {n2}); "
                  f"using {min(n1, n2)}", RuntimeWarning, stacklevel=2)
    subset_size = min(n1, n2)
  gamma = 1.0 / f1.shape[1] if gamma is None else gamma
  rng = np.random.RandomState(seed)
  mmds = []
  with jax.enable_x64(True):
    for _ in range(subsets):
      x = jnp.asarray(f1[rng.choice(n1, subset_size, replace=False)], jnp.float64)
      y = jnp.asarray(f2[rng.choice(n2, subset_size, replace=False)], jnp.float64)
      mmds.append(float(_mmd2_unbiased(x, y, jnp.float64(gamma), jnp.float64(coef0), int(degree))))
  return float(np.mean(mmds)), float(np.std(mmds))
