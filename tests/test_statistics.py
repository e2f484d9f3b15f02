"""Tests for jaxgan.metrics.statistics: streaming mean/covariance and .npz files.

Expected values come from ``np.mean`` / ``np.cov`` on all features at once.
"""

from __future__ import annotations

import numpy as np
import pytest

from jaxgan.metrics.statistics import (FeatureStats, load_statistics, merge_across_processes,
                                       save_statistics)


def _features(n=103, d=7, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + 3.0).astype(np.float32)


def test_streaming_matches_numpy():
  x = _features()
  stats = FeatureStats.zeros(7)
  for start in range(0, len(x), 10):  # Uneven last batch.
    stats.update(x[start:start + 10])
  assert stats.n == len(x)
  np.testing.assert_allclose(stats.mean(), np.mean(x.astype(np.float64), axis=0), rtol=1e-12)
  np.testing.assert_allclose(stats.covariance(), np.cov(x.astype(np.float64), rowvar=False),
                             rtol=1e-10, atol=1e-12)
  assert np.array_equal(stats.covariance(), stats.covariance().T)


def test_merge_is_the_union():
  x = _features()
  a, b = FeatureStats.from_features(x[:40]), FeatureStats.from_features(x[40:])
  merged = a.merge(b)
  full = FeatureStats.from_features(x)
  assert merged.n == full.n
  np.testing.assert_allclose(merged.total, full.total, rtol=1e-12)
  np.testing.assert_allclose(merged.outer, full.outer, rtol=1e-12)
  assert merge_across_processes(merged) is merged  # One process: unchanged.


def test_errors():
  with pytest.raises(ValueError, match=r"\(B, 7\)"):
    FeatureStats.zeros(7).update(np.zeros((2, 6)))
  with pytest.raises(ValueError, match="at least 2"):
    FeatureStats.from_features(np.zeros((1, 3))).covariance()
  with pytest.raises(ValueError, match="merge"):
    FeatureStats.zeros(3).merge(FeatureStats.zeros(4))


def test_npz_round_trip_in_pytorch_fid_format(tmp_path):
  x = _features().astype(np.float64)
  mu, sigma = np.mean(x, axis=0), np.cov(x, rowvar=False)
  save_statistics(tmp_path / "s.npz", mu, sigma, n=len(x))
  with np.load(tmp_path / "s.npz") as f:  # What pytorch-fid reads: f['mu'][:], f['sigma'][:].
    np.testing.assert_array_equal(f["mu"][:], mu)
    np.testing.assert_array_equal(f["sigma"][:], sigma)
    assert int(f["n"]) == len(x)
  np.savez(tmp_path / "theirs.npz", mu=mu.astype(np.float32), sigma=sigma)  # Written elsewhere.
  m2, s2 = load_statistics(tmp_path / "theirs.npz")
  assert m2.dtype == np.float64
  np.testing.assert_allclose(m2, mu, rtol=1e-6)
  np.testing.assert_array_equal(s2, sigma)


def test_bad_statistics_files(tmp_path):
  np.savez(tmp_path / "imgs.npz", x_train=np.zeros((2, 4, 4), np.uint8))
  with pytest.raises(ValueError, match="'mu' and 'sigma'"):
    load_statistics(tmp_path / "imgs.npz")
  with pytest.raises(FileNotFoundError):
    load_statistics(tmp_path / "none.npz")
  with pytest.raises(ValueError, match=r"\(d, d\)"):
    save_statistics(tmp_path / "bad.npz", np.zeros(3), np.zeros((3, 2)))
  with pytest.raises(ValueError, match=".npz"):
    save_statistics(tmp_path / "bad.stats", np.zeros(3), np.eye(3))
