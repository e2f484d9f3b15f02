"""Toy distributions: the WGAN-GP paper's 2-D sets and a 1-D Gaussian mixture.

The 2-D sets follow the reference script of Gulrajani et al. 2017 (``gan_toy.py``):
- '8gaussians': centres on the circle of radius 2 at multiples of 45 degrees, std 0.02,
  then every point divided by 1.414;
- '25gaussians': centres on the grid {-4, -2, 0, 2, 4}^2, std 0.05, then divided by
  2.828 (the script draws a fixed pool of 100,000 points, 4,000 per mode, and cycles
  through it shuffled; we draw fresh points from the same balanced mixture);
- 'swissroll': scikit-learn's ``make_swiss_roll`` with noise 0.25 (t = 1.5 pi (1 + 2u),
  point (t cos t, 21 v, t sin t) plus Gaussian noise per coordinate), keeping
  coordinates 0 and 2, divided by 7.5.

'mog1d' is a mixture of 1-D Gaussians whose density is known in closed form
(``mog1d_log_density``), for checking the optimal discriminator.

Samplers are pure functions of a PRNG key, so batches can be drawn on the device.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

TOY_2D = ("8gaussians", "25gaussians", "swissroll")
TOY_1D = ("mog1d",)
DATASETS = TOY_2D + TOY_1D

# 1-D mixture used by 'mog1d': (weights, means, stds).
MOG1D = ((0.5, 0.5), (-2.0, 2.0), (0.5, 0.5))

_SCALE = {"8gaussians": 1.414, "25gaussians": 2.828, "swissroll": 7.5}
_STD = {"8gaussians": 0.02, "25gaussians": 0.05}


def mode_centers(name: str) -> np.ndarray:
  """Centres of the mixture components in data coordinates (after the division)."""
  if name == "8gaussians":
    r = 1.0 / math.sqrt(2.0)
    unit = [(1, 0), (-1, 0), (0, 1), (0, -1), (r, r), (r, -r), (-r, r), (-r, -r)]
    return 2.0 * np.asarray(unit, np.float64) / _SCALE[name]
  if name == "25gaussians":
    grid = np.arange(-2, 3) * 2.0
    return np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2) / _SCALE[name]
  raise ValueError(f"dataset {name!r} has no discrete modes; use '8gaussians' or '25gaussians'")


def mode_std(name: str) -> float:
  """Standard deviation of each component in data coordinates."""
  mode_centers(name)  # Validates the name.
  return _STD[name] / _SCALE[name]


def mixture(key: Array, n: int, centers: np.ndarray, std: float) -> Array:
  """n points of the balanced Gaussian mixture with these centres and isotropic std."""
  k_mode, k_noise = jax.random.split(key)
  idx = jax.random.randint(k_mode, (n,), 0, len(centers))
  c = jnp.asarray(centers, jnp.float32)
  return c[idx] + std * jax.random.normal(k_noise, (n, c.shape[-1]))


def _swiss_roll(key: Array, n: int, noise: float = 0.25) -> Array:
  k_t, k_noise = jax.random.split(key)
  t = 1.5 * jnp.pi * (1.0 + 2.0 * jax.random.uniform(k_t, (n,)))
  points = jnp.stack([t * jnp.cos(t), t * jnp.sin(t)], axis=-1)
  return (points + noise * jax.random.normal(k_noise, (n, 2))) / _SCALE["swissroll"]


def _mog1d(key: Array, n: int) -> Array:
  weights, means, stds = (jnp.asarray(v, jnp.float32) for v in MOG1D)
  k_mode, k_noise = jax.random.split(key)
  idx = jax.random.categorical(k_mode, jnp.log(weights), shape=(n,))
  return (means[idx] + stds[idx] * jax.random.normal(k_noise, (n,)))[:, None]


def sample(name: str, key: Array, n: int) -> Array:
  """Draws ``n`` float32 points of shape (n, 2) (or (n, 1) for 'mog1d')."""
  if name in ("8gaussians", "25gaussians"):
    return mixture(key, n, mode_centers(name), mode_std(name))
  if name == "swissroll":
    return _swiss_roll(key, n)
  if name == "mog1d":
    return _mog1d(key, n)
  raise ValueError(f"unknown toy data set {name!r}; expected one of: {', '.join(DATASETS)}")


def data_shape(name: str) -> tuple[int, ...]:
  """Shape of one example."""
  if name not in DATASETS:
    raise ValueError(f"unknown toy data set {name!r}; expected one of: {', '.join(DATASETS)}")
  return (1,) if name in TOY_1D else (2,)


def mog1d_log_density(x: Array) -> Array:
  """log p(x) of the 'mog1d' mixture, elementwise."""
  weights, means, stds = (jnp.asarray(v, jnp.float32) for v in MOG1D)
  x = jnp.asarray(x)[..., None]
  log_comp = (-0.5 * jnp.square((x - means) / stds) - jnp.log(stds)
              - 0.5 * math.log(2.0 * math.pi))
  return jax.scipy.special.logsumexp(log_comp + jnp.log(weights), axis=-1)
