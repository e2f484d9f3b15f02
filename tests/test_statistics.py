"""Tests for jaxgan.metrics.statistics: streaming mean/covariance and .npz files.

Expected values come from ``np.mean`` / ``np.cov`` on all features at once.
"""

from __future__ import annotations

import numpy as np
import pytest

from jaxgan.metrics.statistics import (FeatureStats, StatisticsError, check_statistics,
                                       load_statistics, merge_across_processes,
                                       read_statistics, save_statistics)


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


def test_read_statistics_has_n_when_the_file_does(tmp_path):
  x = _features().astype(np.float64)
  save_statistics(tmp_path / "ours.npz", x.mean(axis=0), np.cov(x, rowvar=False), n=len(x))
  assert read_statistics(tmp_path / "ours.npz").n == len(x)
  np.savez(tmp_path / "theirs.npz", mu=x.mean(axis=0), sigma=np.cov(x, rowvar=False))
  stats = read_statistics(tmp_path / "theirs.npz")  # pytorch-fid's files carry no n.
  assert stats.n is None and stats.name == str(tmp_path / "theirs.npz")


def _not_covariances():
  """(what is wrong, mu, sigma): each case the checks must refuse, with the words used."""
  x = _features().astype(np.float64)
  mu, sigma = x.mean(axis=0), np.cov(x, rowvar=False)
  nonsym = sigma.copy()
  nonsym[0, 1] += 0.5 * abs(sigma).max()
  nan = sigma.copy()
  nan[3, 3] = np.nan
  return [("not symmetric", mu, nonsym),
          ("not positive semi-definite", mu, -sigma),  # Negative definite.
          ("not positive semi-definite", mu, sigma - 2 * np.linalg.eigvalsh(sigma)[1] * np.eye(7)),
          ("1 non-finite", mu, nan),
          ("7 non-finite", np.full(7, np.nan), sigma),
          (r"must be \(7, 7\)", mu, sigma[:6, :6]),
          ("must be a vector", mu[None], sigma)]


@pytest.mark.parametrize("index", range(7))
def test_checks_refuse_what_is_not_a_covariance(tmp_path, index):
  words, mu, sigma = _not_covariances()[index]
  with pytest.raises(StatisticsError, match=words):
    check_statistics(mu, sigma)
  path = tmp_path / "bad_stats.npz"
  np.savez(path, mu=mu, sigma=sigma)  # As another tool might have written it.
  with pytest.raises(StatisticsError, match=f"{path}: (mu|sigma)"):
    load_statistics(path)
  with pytest.raises(StatisticsError, match="not written"):
    save_statistics(tmp_path / "out.npz", mu, sigma)
  assert not (tmp_path / "out.npz").exists()


def test_checks_accept_singular_and_float32_rounded_covariances():
  rng = np.random.default_rng(3)
  x = rng.standard_normal((10, 50)) @ rng.standard_normal((50, 50)) + 5.0  # N < d: singular.
  sigma = np.cov(x, rowvar=False).astype(np.float32).astype(np.float64)
  assert np.linalg.eigvalsh(sigma)[0] < 0  # Rounding makes it slightly indefinite.
  mu, checked = check_statistics(x.mean(axis=0), sigma)
  assert checked.dtype == np.float64 and np.array_equal(checked, sigma)
  check_statistics(np.zeros(4), np.zeros((4, 4)))  # One image repeated: all zero.
  check_statistics(2.0, 3.0)  # Scalars: d = 1.
