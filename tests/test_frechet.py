"""Tests for jaxgan.metrics.frechet against scipy's sqrtm route and closed forms.

The scipy reference is pytorch-fid's formula: ||mu1 - mu2||^2 + tr S1 + tr S2 - 2 tr
Re sqrtm(S1 S2), with the eps offset added to both covariances when they are singular.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import linalg

from jaxgan.metrics.frechet import frechet_distance


def _scipy_fid(mu1, s1, mu2, s2, eps=0.0):
  offset = eps * np.eye(len(mu1))
  covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset)).real
  diff = mu1 - mu2
  return diff @ diff + np.trace(s1 + offset) + np.trace(s2 + offset) - 2 * np.trace(covmean)


def _stats(n, d, seed, scale=1.0):
  rng = np.random.default_rng(seed)
  x = (rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * scale / np.sqrt(d)
       + rng.standard_normal(d))
  return x.mean(axis=0), np.cov(x, rowvar=False)


@pytest.mark.parametrize("d,seed", [(1, 0), (5, 1), (64, 2), (200, 3)])
def test_matches_scipy_on_spd(d, seed):
  mu1, s1 = _stats(4 * d + 10, d, seed)
  mu2, s2 = _stats(4 * d + 10, d, seed + 100, scale=2.0)
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # Non-singular: no warning.
    got = frechet_distance(mu1, s1, mu2, s2)
  ref = _scipy_fid(mu1, s1, mu2, s2)
  assert abs(got - ref) <= 1e-6 * abs(ref)


@pytest.mark.parametrize("n1,n2,d", [(8, 8, 64), (20, 20, 100), (2, 2, 10),
                                      (300, 12, 50), (12, 300, 50)])  # One of them singular.
def test_singular_covariances_take_the_eps_branch(n1, n2, d):
  mu1, s1 = _stats(n1, d, 4)
  mu2, s2 = _stats(n2, d, 5, scale=0.5)
  with pytest.warns(RuntimeWarning, match="singular"):
    got = frechet_distance(mu1, s1, mu2, s2, eps=1e-6)
  ref = _scipy_fid(mu1, s1, mu2, s2, eps=1e-6)
  assert abs(got - ref) <= 1e-6 * abs(ref)
  # eps=0: the exact limit, which scipy's sqrtm of the singular product approaches only to
  # ~sqrt(machine eps) per zero eigenvalue.
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    exact = frechet_distance(mu1, s1, mu2, s2, eps=0.0)
    assert abs(exact - _scipy_fid(mu1, s1, mu2, s2)) <= 1e-5 * abs(exact)


def test_closed_forms():
  rng = np.random.default_rng(6)
  mu, s = _stats(50, 6, 7)
  assert abs(frechet_distance(mu, s, mu, s)) < 1e-10
  # Diagonal (commuting) covariances: ||dmu||^2 + sum (sqrt a - sqrt b)^2.
  a, b = rng.uniform(0.1, 2.0, 6), rng.uniform(0.1, 2.0, 6)
  mu2 = mu + rng.standard_normal(6)
  expected = np.sum((mu - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  assert abs(frechet_distance(mu, np.diag(a), mu2, np.diag(b)) - expected) < 1e-12
  # 1-D Gaussians N(m1, v1), N(m2, v2): (m1 - m2)^2 + (sqrt v1 - sqrt v2)^2.
  assert abs(frechet_distance(1.0, 4.0, 3.0, 9.0) - (4.0 + 1.0)) < 1e-12


def test_rejects_bad_inputs():
  with pytest.raises(ValueError, match="same length"):
    frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
  with pytest.raises(ValueError, match=r"\(3, 3\)"):
    frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
  with pytest.raises(ValueError, match="non-finite"):
    frechet_distance(np.full(2, np.nan), np.eye(2), np.zeros(2), np.eye(2))
