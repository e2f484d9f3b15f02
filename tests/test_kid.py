"""Tests for jaxgan.metrics.kid against a plain numpy implementation of the estimator."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from jaxgan.metrics.kid import kernel_inception_distance


def _mmd2_unbiased_loops(x, y, degree=3, coef0=1.0):
  """MMD^2_u written as its definition, with explicit sums over index pairs."""
  m, d = x.shape
  k = lambda a, b: (a @ b / d + coef0) ** degree  # noqa: E731
  xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2))
  yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2))
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
  return (xx + yy) / (m * (m - 1)) - 2 * xy / m**2


def _reference(f1, f2, subsets, size, seed=2020):
  rng = np.random.RandomState(seed)  # torch-fidelity's draws: set 1, then set 2.
  vals = []
  for _ in range(subsets):
    x = f1[rng.choice(len(f1), size, replace=False)]
    y = f2[rng.choice(len(f2), size, replace=False)]
    vals.append(_mmd2_unbiased_loops(x, y))
  return np.mean(vals), np.std(vals)


def test_matches_numpy_definition():
  rng = np.random.default_rng(0)
  f1 = rng.standard_normal((30, 5))
  f2 = rng.standard_normal((25, 5)) * 1.3 + 0.2
  got = kernel_inception_distance(f1, f2, subsets=4, subset_size=9)
  np.testing.assert_allclose(got, _reference(f1, f2, 4, 9), rtol=1e-10)


def test_subset_size_is_capped():
  rng = np.random.default_rng(1)
  f1, f2 = rng.standard_normal((6, 3)), rng.standard_normal((8, 3))
  with pytest.warns(RuntimeWarning, match="using 6"):
    got = kernel_inception_distance(f1, f2, subsets=3, subset_size=1000)
  np.testing.assert_allclose(got, _reference(f1, f2, 3, 6), rtol=1e-10)


def test_same_distribution_is_near_zero_and_shift_is_positive():
  rng = np.random.default_rng(2)
  a, b = rng.standard_normal((400, 8)), rng.standard_normal((400, 8))
  same, _ = kernel_inception_distance(a, b, subsets=10, subset_size=200)
  shifted, _ = kernel_inception_distance(a, b + 1.0, subsets=10, subset_size=200)
  assert abs(same) < 0.05 < shifted


def test_errors():
  with pytest.raises(ValueError, match=r"\(N1, d\)"):
    kernel_inception_distance(np.zeros((4, 3)), np.zeros((4, 2)))
  with pytest.raises(ValueError, match="at least 2"):
    kernel_inception_distance(np.zeros((1, 3)), np.zeros((4, 3)))
