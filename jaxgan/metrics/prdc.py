"""Precision and recall (k-NN manifolds) and density and coverage of feature sets.

Real features X = {x_1..x_N}, fake (generated) features Y = {y_1..y_M}, Euclidean
distances; NND_k(x_i) is the distance from x_i to its k-th nearest neighbour in its own
set (itself excluded), and B(x, r) the closed ball of radius r around x.

Kynkaenniemi et al. 2019, "Improved precision and recall metric for assessing generative
models" (arXiv:1904.06991, eqs. 1-3), k = 3:

    precision = 1/M sum_j 1[ y_j in U_i B(x_i, NND_3(x_i)) ]   fakes on the real manifold
    recall    = 1/N sum_i 1[ x_i in U_j B(y_j, NND_3(y_j)) ]   reals on the fake manifold

Naeem et al. 2020, "Reliable fidelity and diversity metrics for generative models"
(arXiv:2002.09797, eqs. 3-4), k = 5, balls around real samples only:

    density  = 1/(k M) sum_j sum_i 1[ y_j in B(x_i, NND_5(x_i)) ]
    coverage = 1/N sum_i 1[ exists j: y_j in B(x_i, NND_5(x_i)) ]

Swapping the sets swaps precision and recall (same k); density and coverage are not
symmetric. The arguments are keyword-only, ``real=`` and ``fake=``, so that they cannot
be passed in the wrong order (torch-fidelity's issue #58 reported its precision and
recall swapped).

Computation (JAX, on the default device): squared distances ||a||^2 + ||b||^2 - 2 a.b
(clamped at 0) of blocks of ``block_size`` rows x ``block_size`` columns, after
subtracting the real mean from both sets (distances do not change; the cancellation
does). Nothing larger than one block is ever held: a first pass over the real x real and
fake x fake blocks keeps only each sample's k smallest distances to the others
(self excluded by index, not by value), a second pass over the fake x real blocks keeps
per-fake flags and counts and per-real flags. Memory is O((N + M) d + block^2); work is
(N^2 + M^2 + N M) d multiply-adds. float32 by default (distances exact to ~1e-6
relative: a sample within that of a ball's radius may fall either side); ``dtype=
'float64'`` for reference-grade comparisons.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

K_PR = 3  # Kynkaenniemi et al. 2019.
K_DC = 5  # Naeem et al. 2020.
BLOCK_SIZE = 1024


def _sq_distances(a, sq_a, b, sq_b):
  """(rows, cols) squared distances from the expansion, clamped at 0."""
  dots = jnp.matmul(a, b.T, precision=jax.lax.Precision.HIGHEST)
  return jnp.maximum(sq_a[:, None] + sq_b[None, :] - 2.0 * dots, 0.0)


@functools.partial(jax.jit, static_argnames="k")
def _knn_block(rows, sq_rows, first_row, blocks, sq_blocks, count, k: int):
  """The k smallest squared distances (ascending) of each row to the other valid rows of
  the set; blocks: (nb, B, d) of the whole (padded) set, ``count`` rows of it valid."""
  block = blocks.shape[1]
  row_ids = first_row + jnp.arange(rows.shape[0])

  def step(best, j):
    d2 = _sq_distances(rows, sq_rows, blocks[j], sq_blocks[j])
    col_ids = j * block + jnp.arange(block)
    excluded = (col_ids[None, :] >= count) | (col_ids[None, :] == row_ids[:, None])
    d2 = jnp.where(excluded, jnp.inf, d2)
    merged = jnp.concatenate([best, d2], axis=1)
    return -jax.lax.top_k(-merged, k)[0], None

  init = jnp.full((rows.shape[0], k), jnp.inf, rows.dtype)
  best, _ = jax.lax.scan(step, init, jnp.arange(blocks.shape[0]))
  return best


@jax.jit
def _cross_block(fakes, sq_fakes, fake_radius, fake_valid, reals, sq_reals, real_pr, real_dc):
  """One block of fake rows against all real blocks: (precision flags, density counts)
  per fake, (recall flags, coverage flags) per real. Radii are squared; a padded sample
  has radius -inf (nothing lies in its ball) and padded fakes are masked."""

  def step(carry, j):
    in_real_pr, counts = carry
    d2 = _sq_distances(fakes, sq_fakes, reals[j], sq_reals[j])
    pr_ball = d2 <= real_pr[j][None, :]
    dc_ball = (d2 <= real_dc[j][None, :]) & fake_valid[:, None]
    fake_ball = d2 <= fake_radius[:, None]
    carry = (in_real_pr | jnp.any(pr_ball, axis=1),
             counts + jnp.sum(dc_ball, axis=1, dtype=jnp.int32))
    return carry, (jnp.any(fake_ball, axis=0), jnp.any(dc_ball, axis=0))

  init = (jnp.zeros(fakes.shape[0], bool), jnp.zeros(fakes.shape[0], jnp.int32))
  (in_real_pr, counts), (recalled, covered) = jax.lax.scan(step, init, jnp.arange(reals.shape[0]))
  return in_real_pr, counts, recalled.reshape(-1), covered.reshape(-1)


def _blocks(x: jax.Array, block: int) -> tuple[jax.Array, jax.Array]:
  """(nb, block, d) zero-padded blocks and their (nb, block) squared norms."""
  n, d = x.shape
  nb = -(-n // block)
  padded = jnp.pad(x, ((0, nb * block - n), (0, 0))).reshape(nb, block, d)
  return padded, jnp.sum(padded * padded, axis=-1)


def _knn_radii(blocks, sq, count: int, k: int) -> np.ndarray:
  """(nb * block, k) ascending squared distances to the k nearest others; -inf rows for
  padding (their balls hold nothing)."""
  best = [_knn_block(blocks[i], sq[i], i * blocks.shape[1], blocks, sq, count, k)
          for i in range(blocks.shape[0])]  # All dispatched before any is read back.
  best = np.concatenate([np.asarray(b) for b in best])
  best[count:] = -np.inf
  return best


def _checked(x, name: str, dtype) -> np.ndarray:
  x = np.asarray(x)
  if x.ndim != 2:
    raise ValueError(f"{name} must be (N, d) features, got shape {x.shape}")
  bad = int(x.size - np.count_nonzero(np.isfinite(x)))
  if bad:
    raise ValueError(f"{name} has {bad} NaN or inf entries; precision/recall are undefined")
  return x.astype(dtype)


def check_sizes(n_real: int, n_fake: int, k_pr: int = K_PR, k_dc: int = K_DC) -> None:
  """ValueError unless both sets have more samples than their k-NN radii need."""
  if k_pr < 1 or k_dc < 1:
    raise ValueError(f"k_pr and k_dc must be positive, got {k_pr} and {k_dc}")
  if n_real <= max(k_pr, k_dc):
    raise ValueError(f"real has {n_real} samples: k-NN radii with k = {max(k_pr, k_dc)} need "
                     "more")
  if n_fake <= k_pr:
    raise ValueError(f"fake has {n_fake} samples: k-NN radii with k = {k_pr} need more")


def prdc(*, real, fake, k_pr: int = K_PR, k_dc: int = K_DC, block_size: int = BLOCK_SIZE,
         dtype: str = "float32") -> dict[str, float]:
  """{'precision', 'recall' (k_pr-NN), 'density', 'coverage' (k_dc-NN)} of ``fake``
  samples against ``real`` ones, (N, d) and (M, d) arrays (see the module docstring)."""
  if dtype not in ("float32", "float64"):
    raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
  real, fake = _checked(real, "real", dtype), _checked(fake, "fake", dtype)
  if real.shape[1] != fake.shape[1]:
    raise ValueError(f"real and fake features differ in dimension: {real.shape[1]} and "
                     f"{fake.shape[1]}")
  check_sizes(len(real), len(fake), k_pr, k_dc)
  if block_size < 1:
    raise ValueError(f"block_size must be positive, got {block_size}")
  with jax.enable_x64(dtype == "float64"):
    return _prdc(real, fake, k_pr, k_dc, block_size)


def _cross(fake_b, fake_sq, fake_pr, m: int, real_b, real_sq, real_pr, real_dc):
  """Per-fake (on the real k_pr-manifold, in how many real k_dc-balls) and per-real
  (on the fake manifold, covered) results, over all fake x real blocks."""
  block = fake_b.shape[1]
  valid = np.arange(fake_b.shape[0] * block) < m
  outs = [_cross_block(fake_b[i], fake_sq[i], jnp.asarray(fake_pr[i * block:(i + 1) * block]),
                       jnp.asarray(valid[i * block:(i + 1) * block]), real_b, real_sq, real_pr,
                       real_dc)
          for i in range(fake_b.shape[0])]  # All dispatched before any is read back.
  precise = np.concatenate([np.asarray(o[0]) for o in outs])[:m]
  counts = np.concatenate([np.asarray(o[1]) for o in outs])[:m]
  recalled = np.any([np.asarray(o[2]) for o in outs], axis=0)
  covered = np.any([np.asarray(o[3]) for o in outs], axis=0)
  return precise, counts, recalled, covered


def _prdc(real: np.ndarray, fake: np.ndarray, k_pr: int, k_dc: int, block: int) -> dict:
  n, m = len(real), len(fake)
  block = min(block, max(n, m))
  centre = real.mean(axis=0)
  real_b, real_sq = _blocks(jnp.asarray(real - centre), block)
  fake_b, fake_sq = _blocks(jnp.asarray(fake - centre), block)
  real_knn = _knn_radii(real_b, real_sq, n, max(k_pr, k_dc))
  real_pr, real_dc = (jnp.asarray(real_knn[:, k - 1].reshape(real_b.shape[:2]))
                      for k in (k_pr, k_dc))
  fake_pr = _knn_radii(fake_b, fake_sq, m, k_pr)[:, k_pr - 1]
  precise, counts, recalled, covered = _cross(fake_b, fake_sq, fake_pr, m, real_b, real_sq,
                                              real_pr, real_dc)
  return {"precision": float(precise.mean()), "recall": float(recalled[:n].mean()),
          "density": float(counts.sum(dtype=np.int64)) / (k_dc * m),
          "coverage": float(covered[:n].mean())}
