"""Tests for jaxgan.metrics.mode_coverage with hand-built samples of known coverage."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.metrics.mode_coverage import kl_to_uniform, mode_coverage

# The 25-Gaussian grid of gan_toy.py, written out independently.
CENTRES = np.array([(2.0 * i, 2.0 * j) for i in range(-2, 3) for j in range(-2, 3)]) / 2.828
STD = 0.05 / 2.828
HIT = [0, 3, 7, 12, 18, 20, 24]  # 7 of the 25 modes.


def _far_points() -> np.ndarray:
  """Points more than 3 std from every centre (checked below)."""
  pts = np.array([
      [10.0, 10.0],
      [-7.0, 0.3],
      (CENTRES[0] + CENTRES[1]) / 2,          # Midway between two modes.
      CENTRES[6] + np.array([0.0, 3.5 * STD]),  # Just outside 3 std of mode 6.
      CENTRES[13] + np.array([-4 * STD, 0.0]),
  ])
  d = np.linalg.norm(pts[:, None] - CENTRES[None], axis=-1).min(axis=1)
  assert np.all(d > 3 * STD)
  return pts


def test_exact_centres_of_seven_modes_plus_far_points():
  repeats = np.arange(1, len(HIT) + 1)  # Mode HIT[i] gets i + 1 exact copies.
  good = np.repeat(CENTRES[HIT], repeats, axis=0)
  far = _far_points()
  samples = np.concatenate([good, far])
  rng = np.random.default_rng(0)
  samples = samples[rng.permutation(len(samples))]
  out = mode_coverage(samples, CENTRES, STD)
  assert set(out) == {"modes", "high_quality", "counts"}
  assert out["modes"] == 7
  assert isinstance(out["modes"], int)
  assert out["high_quality"] == pytest.approx(len(good) / len(samples))
  assert isinstance(out["high_quality"], float)
  expected = np.zeros(25, int)
  expected[HIT] = repeats
  assert out["counts"] == expected.tolist()
  assert isinstance(out["counts"], list) and all(type(c) is int for c in out["counts"])


def test_points_inside_and_outside_n_std():
  # Offsets of 2.9 std count, 3.1 std do not, in every direction.
  angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
  dirs = np.stack([np.cos(angles), np.sin(angles)], -1)
  inside = CENTRES[5] + 2.9 * STD * dirs
  outside = CENTRES[9] + 3.1 * STD * dirs
  out = mode_coverage(np.concatenate([inside, outside]), CENTRES, STD)
  assert out["modes"] == 1
  assert out["high_quality"] == pytest.approx(0.5)
  assert out["counts"][5] == 8 and sum(out["counts"]) == 8
  # A looser threshold accepts the outer ring too.
  out = mode_coverage(np.concatenate([inside, outside]), CENTRES, STD, n_std=3.2)
  assert out["modes"] == 2 and out["high_quality"] == pytest.approx(1.0)
  assert out["counts"][9] == 8


def test_samples_assigned_to_nearest_centre():
  # Within 3 std of mode 12 but pulled slightly toward mode 13: still mode 12.
  direction = (CENTRES[13] - CENTRES[12]) / np.linalg.norm(CENTRES[13] - CENTRES[12])
  pts = CENTRES[12] + np.array([0.5, 1.0, 2.0])[:, None] * STD * direction
  out = mode_coverage(pts, CENTRES, STD)
  assert out["counts"][12] == 3 and out["modes"] == 1


@pytest.mark.parametrize("min_count,expected", [(1, 7), (2, 6), (3, 5), (7, 1), (8, 0)])
def test_min_count(min_count, expected):
  repeats = np.arange(1, len(HIT) + 1)  # Counts 1..7 on the seven modes.
  samples = np.concatenate([np.repeat(CENTRES[HIT], repeats, axis=0), _far_points()])
  out = mode_coverage(samples, CENTRES, STD, min_count=min_count)
  assert out["modes"] == expected
  # min_count does not change the per-mode counts or the quality fraction.
  assert sum(out["counts"]) == repeats.sum()
  assert out["high_quality"] == pytest.approx(repeats.sum() / len(samples))


def test_far_points_only_capture_nothing():
  out = mode_coverage(_far_points(), CENTRES, STD)
  assert out == {"modes": 0, "high_quality": 0.0, "counts": [0] * 25}


def test_gaussian_samples_from_every_mode():
  """Draws from the true mixture: all 25 modes, ~99% within 3 std (chi with 2 dof:
  P(r <= 3 sigma) = 1 - exp(-9 / 2) = 0.98889)."""
  rng = np.random.default_rng(1)
  n = 25 * 400
  idx = np.repeat(np.arange(25), 400)
  samples = CENTRES[idx] + STD * rng.normal(size=(n, 2))
  out = mode_coverage(samples, CENTRES, STD)
  assert out["modes"] == 25
  p = 1 - np.exp(-4.5)
  assert abs(out["high_quality"] - p) < 5 * np.sqrt(p * (1 - p) / n)
  assert all(350 <= c <= 400 for c in out["counts"])


def test_accepts_jax_arrays_and_1d_data():
  centres = np.array([[-2.0], [2.0]])
  samples = jnp.asarray([[-2.0], [-2.2], [2.05], [0.0]])
  out = mode_coverage(samples, centres, 0.05)
  assert out["counts"] == [1, 1]
  assert out["modes"] == 2
  assert out["high_quality"] == pytest.approx(0.5)


def test_empty_samples():
  out = mode_coverage(np.zeros((0, 2)), CENTRES, STD)
  assert out == {"modes": 0, "high_quality": 0.0, "counts": [0] * 25}


def test_kl_to_uniform_of_counts():
  assert kl_to_uniform([5, 5, 5, 5]) == pytest.approx(0.0, abs=1e-15)
  assert kl_to_uniform([3, 3, 0, 0]) == pytest.approx(math.log(2))  # Half the modes.
  q = np.array([1.0, 2.0, 3.0]) / 6
  assert kl_to_uniform([1, 2, 3]) == pytest.approx(float(np.sum(q * np.log(3 * q))), rel=1e-12)
  assert kl_to_uniform([0, 0, 0]) == math.inf
