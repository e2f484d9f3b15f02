"""Tests for jaxgan.data.toy against closed forms, numpy/scipy and scikit-learn.

Reference definitions (Gulrajani et al. 2017, ``gan_toy.py``), rewritten here in numpy:
- 8gaussians: scale 2 times the unit vectors at multiples of 45 degrees, std 0.02,
  everything divided by 1.414;
- 25gaussians: centres (2i, 2j) for i, j in -2..2, std 0.05, divided by 2.828;
- swissroll: sklearn.datasets.make_swiss_roll(n, noise=0.25)[0][:, [0, 2]] / 7.5.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy import special, stats

from jaxgan.data import toy

def _centres_8() -> np.ndarray:
  angles = np.deg2rad(45.0 * np.arange(8))
  return 2.0 * np.stack([np.cos(angles), np.sin(angles)], -1) / 1.414


def _centres_25() -> np.ndarray:
  return np.array([(2.0 * i, 2.0 * j) for i in range(-2, 3) for j in range(-2, 3)]) / 2.828


REFERENCE = {
    "8gaussians": (_centres_8(), 0.02 / 1.414),
    "25gaussians": (_centres_25(), 0.05 / 2.828),
}


def _same_point_set(a: np.ndarray, b: np.ndarray, atol: float) -> None:
  assert a.shape == b.shape
  d = np.linalg.norm(a[:, None] - b[None], axis=-1)
  # A bijection: every point of a has a partner in b and vice versa, none shared.
  match = d.argmin(axis=1)
  assert len(set(match.tolist())) == len(b)
  np.testing.assert_allclose(d[np.arange(len(a)), match], 0.0, atol=atol)


# ----------------------------------------------------------------------------- mixtures


@pytest.mark.parametrize("name", ["8gaussians", "25gaussians"])
def test_mode_centres_and_std_match_gan_toy(name):
  centres, std = REFERENCE[name]
  got = toy.mode_centers(name)
  assert got.shape == centres.shape
  _same_point_set(np.asarray(got, np.float64), centres, atol=1e-9)
  assert toy.mode_std(name) == pytest.approx(std, rel=1e-12)


@pytest.mark.parametrize("name", ["8gaussians", "25gaussians"])
def test_mixture_samples_residuals_and_balance(name):
  centres, std = REFERENCE[name]
  n = 20000
  x = np.asarray(toy.sample(name, jax.random.key(0), n), np.float64)
  assert x.shape == (n, 2)
  k = len(centres)
  nearest = np.linalg.norm(x[:, None] - centres[None], axis=-1).argmin(axis=1)
  resid = x - centres[nearest]
  # Residual per coordinate ~ N(0, std^2): the std within 3% (its relative standard
  # error is 1/sqrt(2n) = 0.5%), the mean within 5 standard errors.
  np.testing.assert_allclose(resid.std(axis=0), std, rtol=0.03)
  np.testing.assert_array_less(np.abs(resid.mean(axis=0)), 5 * std / np.sqrt(n))
  # Every point lies close to its centre: no stray points between modes.
  assert np.abs(resid).max() < 6 * std
  # Balanced mixture: each count within 5 binomial sigmas of n / K, and chi-square.
  counts = np.bincount(nearest, minlength=k)
  p = 1.0 / k
  np.testing.assert_array_less(np.abs(counts - n * p), 5 * np.sqrt(n * p * (1 - p)))
  assert stats.chisquare(counts).pvalue > 1e-4


# ----------------------------------------------------------------------------- swiss roll


def _spiral_residual(x: np.ndarray) -> np.ndarray:
  """7.5 r - t, where t is the spiral parameter consistent with the point's angle.

  Noise-free points (t cos t, t sin t) / 7.5 have radius t / 7.5 and angle t mod 2 pi;
  the residual is wrapped into (-pi, pi], so for small noise it is ~ the radial noise.
  """
  r = 7.5 * np.linalg.norm(x, axis=1)
  theta = np.arctan2(x[:, 1], x[:, 0])
  return np.angle(np.exp(1j * (r - theta)))


@pytest.fixture(scope="module")
def swiss_rolls():
  sklearn_datasets = pytest.importorskip("sklearn.datasets")  # The `test` extra has it.
  n = 50000
  ours = np.asarray(toy.sample("swissroll", jax.random.key(1), n), np.float64)
  ref = sklearn_datasets.make_swiss_roll(n, noise=0.25, random_state=0)[0][:, [0, 2]] / 7.5
  return ours, ref


def test_swissroll_mean_and_covariance_match_sklearn(swiss_rolls):
  ours, ref = swiss_rolls
  n = len(ours)
  assert ours.shape == ref.shape == (n, 2)
  # Two-sample tolerances: 5 standard errors of the difference.
  se_mean = np.sqrt((ours.var(axis=0) + ref.var(axis=0)) / n)
  np.testing.assert_array_less(np.abs(ours.mean(axis=0) - ref.mean(axis=0)), 5 * se_mean)
  for i, j in ((0, 0), (1, 1), (0, 1)):
    prod_o = (ours[:, i] - ours[:, i].mean()) * (ours[:, j] - ours[:, j].mean())
    prod_r = (ref[:, i] - ref[:, i].mean()) * (ref[:, j] - ref[:, j].mean())
    se = np.sqrt((prod_o.var() + prod_r.var()) / n)
    assert abs(prod_o.mean() - prod_r.mean()) < 5 * se, (i, j)


def test_swissroll_radial_distribution_matches_sklearn(swiss_rolls):
  ours, ref = swiss_rolls
  r_o, r_r = np.linalg.norm(ours, axis=1), np.linalg.norm(ref, axis=1)
  qs = [0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999]
  # Radius ~ uniform on [0.63, 1.88] (density 0.8): quantile s.e. <= 0.003 per sample.
  np.testing.assert_allclose(np.quantile(r_o, qs), np.quantile(r_r, qs), atol=0.02)
  # Noise-free range: t / 7.5 in [1.5 pi, 4.5 pi] / 7.5; noise 0.25 / 7.5 smears edges.
  assert r_o.min() > 1.5 * np.pi / 7.5 - 6 * 0.25 / 7.5
  assert r_o.max() < 4.5 * np.pi / 7.5 + 6 * 0.25 / 7.5
  assert stats.ks_2samp(r_o, r_r).pvalue > 1e-3
  theta_o = np.arctan2(ours[:, 1], ours[:, 0])
  theta_r = np.arctan2(ref[:, 1], ref[:, 0])
  assert stats.ks_2samp(theta_o, theta_r).pvalue > 1e-3


def test_swissroll_noise_level_matches_sklearn(swiss_rolls):
  """The spread around the spiral (the 0.25 noise, divided by 7.5 with the points)."""
  ours, ref = swiss_rolls
  res_o, res_r = _spiral_residual(ours), _spiral_residual(ref)
  # Mostly radial noise of std 0.25 (in undivided units), plus a little angular noise.
  assert 0.25 <= res_r.std() < 0.3
  assert res_o.std() == pytest.approx(res_r.std(), rel=0.03)
  assert abs(res_o.mean() - res_r.mean()) < 5 * np.sqrt(2 * 0.3**2 / len(ours))


# ----------------------------------------------------------------------------- mog1d


def _mog1d_arrays():
  w, mu, sd = (np.asarray(v, np.float64) for v in toy.MOG1D)
  return w, mu, sd


def test_mog1d_moments_match_closed_form():
  w, mu, sd = _mog1d_arrays()
  assert w.sum() == pytest.approx(1.0)
  n = 200000
  x = np.asarray(toy.sample("mog1d", jax.random.key(2), n), np.float64)
  assert x.shape == (n, 1)
  x = x[:, 0]
  mean = np.sum(w * mu)
  m2 = np.sum(w * (sd**2 + mu**2))
  m4 = np.sum(w * (mu**4 + 6 * mu**2 * sd**2 + 3 * sd**4))
  var = m2 - mean**2
  # Standard errors: sqrt(var / n) for the mean; sqrt(Var[(x-m)^2] / n) for the
  # variance, with Var[(x-m)^2] <= E[x^4] - E[x^2]^2 + 4 mean^2 var (exact when mean=0).
  assert abs(x.mean() - mean) < 5 * np.sqrt(var / n)
  var_se = np.sqrt((m4 - m2**2 + 4 * mean**2 * var) / n)
  assert abs(x.var() - var) < 5 * var_se + 5 * var / n
  # Whole distribution: one-sample KS against the mixture CDF.
  cdf = lambda t: np.sum(w * stats.norm.cdf((np.asarray(t)[..., None] - mu) / sd), -1)
  assert stats.kstest(x, cdf).pvalue > 1e-3


def test_mog1d_log_density_matches_scipy():
  w, mu, sd = _mog1d_arrays()
  grid = np.linspace(-30.0, 30.0, 1201)
  expected = special.logsumexp(
      stats.norm.logpdf(grid[:, None], mu, sd) + np.log(w), axis=-1)
  got = np.asarray(toy.mog1d_log_density(grid.astype(np.float32)), np.float64)
  assert got.shape == grid.shape
  assert np.all(np.isfinite(got))
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  # Broadcasting over an extra axis.
  got2 = np.asarray(toy.mog1d_log_density(grid[:1200].reshape(3, -1).astype(np.float32)))
  assert got2.shape == (3, 400)
  np.testing.assert_allclose(got2.reshape(-1), got[:1200], rtol=1e-6)


def test_mog1d_density_integrates_to_one():
  _, mu, sd = _mog1d_arrays()
  lo, hi = mu.min() - 12 * sd.max(), mu.max() + 12 * sd.max()
  grid = np.linspace(lo, hi, 40001)
  p = np.exp(np.asarray(toy.mog1d_log_density(grid.astype(np.float32)), np.float64))
  assert np.trapezoid(p, grid) == pytest.approx(1.0, abs=1e-4)


# ----------------------------------------------------------------------------- API


@pytest.mark.parametrize("name,shape", [("8gaussians", (2,)), ("25gaussians", (2,)),
                                        ("swissroll", (2,)), ("mog1d", (1,))])
def test_data_shape_and_sample_shape(name, shape):
  assert toy.data_shape(name) == shape
  x = toy.sample(name, jax.random.key(0), 7)
  assert x.shape == (7, *shape)
  assert x.dtype == np.float32


@pytest.mark.parametrize("name", ["moons", "8gaussian", "", "MNIST"])
def test_unknown_dataset_names_data_name(name):
  with pytest.raises(ValueError, match=rf"unknown toy data set '{name}'.*8gaussians"):
    toy.sample(name, jax.random.key(0), 4)
  with pytest.raises(ValueError, match=rf"unknown toy data set '{name}'"):
    toy.data_shape(name)


@pytest.mark.parametrize("name", ["swissroll", "mog1d", "moons"])
def test_mode_centers_rejects_sets_without_modes(name):
  with pytest.raises(ValueError):
    toy.mode_centers(name)
  with pytest.raises(ValueError):
    toy.mode_std(name)


@pytest.mark.parametrize("name", toy.DATASETS)
def test_sampling_is_deterministic_per_key(name):
  a = np.asarray(toy.sample(name, jax.random.key(5), 256))
  b = np.asarray(toy.sample(name, jax.random.key(5), 256))
  c = np.asarray(toy.sample(name, jax.random.key(6), 256))
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)
  # Points within one batch are not all the same.
  assert np.unique(a, axis=0).shape[0] == 256


def test_sampling_works_under_jit():
  f = jax.jit(lambda k: toy.sample("25gaussians", k, 64))
  np.testing.assert_allclose(np.asarray(f(jax.random.key(3))),
                             np.asarray(toy.sample("25gaussians", jax.random.key(3), 64)),
                             rtol=1e-6, atol=1e-6)
