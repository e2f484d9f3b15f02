"""Tests for jaxgan.metrics.frechet against pytorch-fid's procedure and closed forms.

The reference ``_pytorch_fid`` is written here with numpy and scipy following pytorch-fid's
``calculate_frechet_distance`` (v0.3.0) step by step: covmean = sqrtm(S1 . S2); only if
it is not finite, sqrtm((S1 + eps I) . (S2 + eps I)); its real part;
||mu1 - mu2||^2 + tr S1 + tr S2 - 2 tr covmean. Parity is required to 1e-5, absolute and
relative, at every N: full rank, N < d, N = d, rank-deficient, duplicated samples.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import linalg

from jaxgan.metrics import frechet
from jaxgan.metrics.frechet import frechet_distance
from jaxgan.metrics.statistics import StatisticsError

TOL = 1e-5


def _pytorch_fid(mu1, s1, mu2, s2, eps=1e-6):
  mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
  s1, s2 = np.atleast_2d(s1), np.atleast_2d(s2)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    covmean = linalg.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():
      offset = np.eye(s1.shape[0]) * eps
      covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
  if np.iscomplexobj(covmean):
    assert np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3)
    covmean = covmean.real
  diff = mu1 - mu2
  return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def _features(n, d, seed, scale=1.0, rank=None, relu=True):
  """Non-negative, correlated features with a decaying spectrum (like pool3), or linear
  ones confined to a ``rank``-dimensional affine subspace."""
  rng = np.random.default_rng(seed)
  k = rank or d
  basis = np.linalg.qr(rng.standard_normal((d, k)))[0]
  x = (rng.standard_normal((n, k)) / (1.0 + np.arange(k)) ** 0.4) @ basis.T + 0.3
  return (np.maximum(x, 0.0) if relu else x) * scale


def _stats(x):
  return x.mean(axis=0), np.cov(x, rowvar=False)


def _assert_parity(got, ref):
  assert abs(got - ref) <= TOL, (got, ref)
  assert abs(got - ref) <= TOL * abs(ref), (got, ref)


@pytest.mark.parametrize("d,n,seed,scale", [(1, 10, 0, 1.0), (5, 30, 1, 1.0), (64, 266, 2, 1.0),
                                            (200, 810, 3, 30.0), (100, 101, 4, 30.0)])
def test_full_rank_matches_pytorch_fid_on_the_device(d, n, seed, scale, monkeypatch):
  mu1, s1 = _stats(_features(n, d, seed, scale))
  mu2, s2 = _stats(_features(n, d, seed + 100, 2 * scale))
  ref = _pytorch_fid(mu1, s1, mu2, s2)

  def no_sqrtm(*_):
    raise AssertionError("full rank must take the device route, not scipy's sqrtm")

  monkeypatch.setattr(linalg, "sqrtm", no_sqrtm)
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # Non-singular: no warning.
    got = frechet_distance(mu1, s1, mu2, s2)
  _assert_parity(got, ref)
  assert abs(got - ref) <= 1e-9 * abs(ref)


def _duplicated(n_unique, copies, d, seed, scale):
  x = _features(n_unique, d, seed, scale)
  return np.concatenate([x] * copies + [x[:3]])


SINGULAR = {
    "N<d": lambda: (_features(20, 100, 4), _features(30, 100, 5, 0.5)),
    "N<d large scale": lambda: (_features(40, 128, 1, 30.0), _features(40, 128, 2, 30.0)),
    "N=d": lambda: (_features(100, 100, 6), _features(100, 100, 7, 2.0)),
    "N=d large scale": lambda: (_features(128, 128, 8, 30.0), _features(128, 128, 9, 30.0)),
    "one singular": lambda: (_features(300, 50, 10), _features(12, 50, 11, 0.5)),
    "rank-deficient": lambda: (_features(400, 100, 12, 10.0, rank=25, relu=False),
                               _features(400, 100, 13, 10.0, rank=25, relu=False)),
    "duplicated samples": lambda: (_duplicated(60, 5, 100, 14, 10.0),   # N > d, rank 59.
                                   _duplicated(70, 4, 100, 15, 10.0)),
    "constant features": lambda: tuple(np.where(np.arange(64) < 4, 0.5, x) for x in
                                       (_features(200, 64, 16), _features(200, 64, 17))),
}


@pytest.mark.parametrize("case", sorted(SINGULAR))
def test_singular_covariances_match_pytorch_fid(case):
  x1, x2 = SINGULAR[case]()
  mu1, s1 = _stats(x1)
  mu2, s2 = _stats(x2)
  assert min(np.linalg.eigvalsh(s1)[0], np.linalg.eigvalsh(s2)[0]) < 1e-12  # Singular.
  ref = _pytorch_fid(mu1, s1, mu2, s2)
  with pytest.warns(RuntimeWarning, match="singular"):
    got = frechet_distance(mu1, s1, mu2, s2)
  _assert_parity(got, ref)


def test_eps_offset_only_when_sqrtm_is_not_finite(monkeypatch):
  """Older SciPy versions return NaN for some singular products: then, and only then,
  pytorch-fid adds eps to both diagonals (and not to the traces)."""
  real_sqrtm, calls = linalg.sqrtm, []

  def failing_once(a):  # The first call of each FID fails, as sqrtm did in SciPy < 1.16.
    calls.append(a)
    return np.full_like(a, np.nan) if len(calls) % 2 == 1 else real_sqrtm(a)

  mu1, s1 = _stats(_features(20, 40, 18))
  mu2, s2 = _stats(_features(25, 40, 19))
  monkeypatch.setattr(linalg, "sqrtm", failing_once)
  ref = _pytorch_fid(mu1, s1, mu2, s2, eps=1e-6)
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="a covariance matrix is singular")
    with pytest.warns(RuntimeWarning, match="adding 1e-06"):
      got = frechet_distance(mu1, s1, mu2, s2, eps=1e-6)
    assert len(calls) == 4
    np.testing.assert_allclose(calls[3], (s1 + 1e-6 * np.eye(40)) @ (s2 + 1e-6 * np.eye(40)))
    _assert_parity(got, ref)
    with pytest.raises(StatisticsError, match="eps"):
      frechet_distance(mu1, s1, mu2, s2, eps=0.0)


def test_identical_sets_give_zero_not_a_negative_rounding():
  x = _features(10, 200, 20, 30.0)  # N < d: pytorch-fid gets a small negative number.
  mu, s = _stats(x)
  ref = _pytorch_fid(mu, s, mu, s)
  assert ref < 0
  with pytest.warns(RuntimeWarning, match="singular"):
    got = frechet_distance(mu, s, mu, s)
  assert got == 0.0 and abs(ref) <= frechet.rounding_bound(mu, s, mu, s, host_route=True)
  mu, s = _stats(_features(300, 20, 21))
  assert 0.0 <= frechet_distance(mu, s, mu, s) < 1e-10


def test_negatives_beyond_rounding_are_not_hidden():
  assert frechet._clamp(-1e-12, 1e-9) == 0.0
  assert frechet._clamp(2e-12, 1e-9) == 2e-12
  with pytest.warns(RuntimeWarning, match="beyond rounding"):
    assert frechet._clamp(-1e-3, 1e-9) == -1e-3


def test_closed_forms():
  rng = np.random.default_rng(6)
  mu, s = _stats(_features(50, 6, 7))
  assert abs(frechet_distance(mu, s, mu, s)) < 1e-10
  # Diagonal (commuting) covariances: ||dmu||^2 + sum (sqrt a - sqrt b)^2.
  a, b = rng.uniform(0.1, 2.0, 6), rng.uniform(0.1, 2.0, 6)
  mu2 = mu + rng.standard_normal(6)
  expected = np.sum((mu - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  assert abs(frechet_distance(mu, np.diag(a), mu2, np.diag(b)) - expected) < 1e-12
  # 1-D Gaussians N(m1, v1), N(m2, v2): (m1 - m2)^2 + (sqrt v1 - sqrt v2)^2.
  assert abs(frechet_distance(1.0, 4.0, 3.0, 9.0) - (4.0 + 1.0)) < 1e-12


def test_refuses_what_is_not_a_mean_and_a_covariance():
  rng = np.random.default_rng(8)
  mu, s = _stats(_features(100, 8, 9))
  nonsym = s + np.triu(rng.uniform(0.5, 1.0, (8, 8)), 1)
  with pytest.raises(StatisticsError, match="sigma2 is not symmetric"):
    frechet_distance(mu, s, mu, nonsym)
  with pytest.raises(StatisticsError, match="sigma1 is not positive semi-definite"):
    frechet_distance(mu, -s, mu, s)
  w, v = np.linalg.eigh(s)
  indefinite = (v * np.concatenate([[-0.5 * w[-1]], w[1:]])) @ v.T
  with pytest.raises(StatisticsError, match="smallest eigenvalue"):
    frechet_distance(mu, s, mu, indefinite)
  with_nan = s.copy()
  with_nan[2, 2] = np.nan
  with pytest.raises(StatisticsError, match="sigma1 has 1 non-finite"):
    frechet_distance(mu, with_nan, mu, s)
  with pytest.raises(StatisticsError, match="mu2 has 8 non-finite"):
    frechet_distance(mu, s, np.full(8, np.inf), s)
  with pytest.raises(StatisticsError, match="different dimensions"):
    frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
  with pytest.raises(StatisticsError, match=r"sigma1 must be \(3, 3\)"):
    frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
  with pytest.raises(StatisticsError, match="fake.npz: sigma is not symmetric"):
    frechet_distance(mu, nonsym, mu, s, names=("fake.npz: mu", "fake.npz: sigma", "b", "c"))


def test_float32_rounded_singular_covariances_are_accepted():
  mu, s = _stats(_features(30, 120, 22))
  s32 = s.astype(np.float32).astype(np.float64)  # Slightly indefinite after rounding.
  assert np.linalg.eigvalsh(s32)[0] < 0
  with pytest.warns(RuntimeWarning, match="singular"):
    got = frechet_distance(mu, s32, mu + 0.1, s)
  _assert_parity(got, _pytorch_fid(mu, s32, mu + 0.1, s))
