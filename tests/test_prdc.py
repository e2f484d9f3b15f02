"""Tests for jaxgan.metrics.prdc against a plain numpy implementation written here.

The reference computes every pairwise distance at once in float64 (direct differences,
no expansion) and reads each k-NN radius from a sorted row of the set's own distance
matrix, whose entry 0 is the sample itself (distance exactly 0), as the authors' code
does (Kynkaenniemi et al. 2019 for precision/recall, Naeem et al. 2020 for density and
coverage); balls are closed (distance <= radius).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxgan.metrics import prdc as prdc_module
from jaxgan.metrics.prdc import prdc


def _distances(a, b):
  return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))


def reference_prdc(real, fake, k_pr=3, k_dc=5) -> dict:
  """Precision, recall, density, coverage with full distance matrices (numpy, float64)."""
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  real_real, fake_fake = _distances(real, real), _distances(fake, fake)
  real_fake = _distances(real, fake)  # (N, M)
  real_pr = np.sort(real_real, axis=1)[:, k_pr]  # [:, 0] is the sample itself.
  real_dc = np.sort(real_real, axis=1)[:, k_dc]
  fake_pr = np.sort(fake_fake, axis=1)[:, k_pr]
  return {"precision": np.mean(np.any(real_fake <= real_pr[:, None], axis=0)),
          "recall": np.mean(np.any(real_fake <= fake_pr[None, :], axis=1)),
          "density": np.sum(real_fake <= real_dc[:, None]) / (k_dc * len(fake)),
          "coverage": np.mean(np.any(real_fake <= real_dc[:, None], axis=1))}


def _sets(n_real=160, n_fake=130, d=12, seed=0, scale=0.8, shift=0.4):
  """Non-negative, correlated features (like pool3); fake narrower and shifted."""
  rng = np.random.default_rng(seed)
  mix = rng.standard_normal((d, d)) / np.sqrt(d)
  real = np.maximum(rng.standard_normal((n_real, d)) @ mix + 1.0, 0.0)
  fake = np.maximum(scale * rng.standard_normal((n_fake, d)) @ mix + 1.0 + shift, 0.0)
  return real, fake


def _assert_same(got: dict, want: dict, counts=(0, 0)):
  """Equal up to ``counts`` = (fakes, reals) whose membership may flip in float32."""
  n_fake, n_real = counts
  assert set(got) == {"precision", "recall", "density", "coverage"}
  assert abs(got["precision"] - want["precision"]) <= n_fake + 1e-12, (got, want)
  assert abs(got["recall"] - want["recall"]) <= n_real + 1e-12, (got, want)
  assert abs(got["coverage"] - want["coverage"]) <= n_real + 1e-12, (got, want)
  assert abs(got["density"] - want["density"]) <= n_fake + 1e-12, (got, want)


@pytest.mark.parametrize("n_real,n_fake,d,k_pr,k_dc,seed", [
    (160, 130, 12, 3, 5, 0),
    (90, 200, 5, 3, 5, 1),
    (70, 70, 40, 2, 7, 2),   # Other k; k_dc > k_pr.
    (100, 60, 8, 6, 4, 3),   # k_pr > k_dc.
])
def test_matches_numpy_in_float64(n_real, n_fake, d, k_pr, k_dc, seed):
  real, fake = _sets(n_real, n_fake, d, seed)
  got = prdc(real=real, fake=fake, k_pr=k_pr, k_dc=k_dc, block_size=32, dtype="float64")
  want = reference_prdc(real, fake, k_pr, k_dc)
  _assert_same(got, want)
  assert 0 < got["precision"] < 1 and 0 < got["recall"] < 1  # Not a degenerate case.


def test_float32_default_matches_numpy_within_a_flip_or_two():
  real, fake = _sets(seed=4)
  got = prdc(real=real.astype(np.float32), fake=fake.astype(np.float32), block_size=64)
  _assert_same(got, reference_prdc(real.astype(np.float32), fake.astype(np.float32)),
               counts=(2 / len(fake), 2 / len(real)))


def test_swapping_real_and_fake_swaps_precision_and_recall():
  a, b = _sets(seed=5)
  ab = prdc(real=a, fake=b, block_size=64, dtype="float64")
  ba = prdc(real=b, fake=a, block_size=64, dtype="float64")
  assert ab["precision"] == ba["recall"] and ab["recall"] == ba["precision"]
  _assert_same(ba, reference_prdc(b, a))
  assert ab["precision"] != ab["recall"]  # So the test would notice a swap.


def test_a_collapsed_generator_has_high_precision_and_low_recall():
  """The direction of the definitions (torch-fidelity#58 had them swapped): fakes packed
  into one region of the real distribution are all on the real manifold (precision 1)
  but cover little of it (low recall, low coverage)."""
  rng = np.random.default_rng(6)
  real = rng.standard_normal((300, 4))
  fake = 0.05 * rng.standard_normal((100, 4))  # All near the real mode.
  got = prdc(real=real, fake=fake, dtype="float64")
  assert got["precision"] == 1.0 and got["recall"] < 0.2 and got["coverage"] < 0.2
  assert got["density"] > 1.0  # Each fake lies in many real balls.
  _assert_same(got, reference_prdc(real, fake))


def test_blocked_equals_unblocked():
  real, fake = _sets(n_real=150, n_fake=101, seed=7)
  results = [prdc(real=real, fake=fake, block_size=b, dtype="float64") for b in (7, 50, 4096)]
  assert results[0] == results[1] == results[2]


def test_identical_sets():
  real, _ = _sets(seed=8)
  got = prdc(real=real, fake=real.copy(), dtype="float64")
  assert got["precision"] == got["recall"] == got["coverage"] == 1.0
  _assert_same(got, reference_prdc(real, real))


def _avals(jaxpr):
  """Every variable's abstract value in a jaxpr, sub-jaxprs (scan bodies) included."""
  for eqn in jaxpr.eqns:
    yield from (v.aval for v in eqn.outvars)
    for param in eqn.params.values():
      for sub in param if isinstance(param, (list, tuple)) else [param]:
        inner = getattr(sub, "jaxpr", sub)
        if hasattr(inner, "eqns"):
          yield from _avals(inner)


def test_no_array_larger_than_a_block_of_distances():
  """50k x 50k must never need the full matrix: in both compiled passes, no intermediate
  holds more than block x (block + k) values or the blocked inputs themselves."""
  n, block, d, k = 3000, 64, 8, 5
  blocks = jax.numpy.zeros((n // block + 1, block, d))
  sq = jax.numpy.zeros(blocks.shape[:2])
  knn = jax.make_jaxpr(prdc_module._knn_block.__wrapped__, static_argnums=6)(
      blocks[0], sq[0], 0, blocks, sq, n, k)
  rows = jax.numpy.zeros(block)
  cross = jax.make_jaxpr(prdc_module._cross_block.__wrapped__)(
      blocks[0], sq[0], rows, rows > 0, blocks, sq, sq, sq)
  limit = max(block * (block + k), blocks.size)
  for jaxpr in (knn.jaxpr, cross.jaxpr):
    sizes = [int(np.prod(a.shape)) for a in _avals(jaxpr) if hasattr(a, "shape")]
    assert sizes and max(sizes) <= limit, max(sizes)


def test_arguments_are_keyword_only_and_checked():
  real, fake = _sets(seed=9)
  with pytest.raises(TypeError):
    prdc(real, fake)  # pylint: disable=too-many-function-args
  with pytest.raises(ValueError, match="differ in dimension: 12 and 11"):
    prdc(real=real, fake=fake[:, :11])
  with pytest.raises(ValueError, match="real has 5 samples: k-NN radii with k = 5"):
    prdc(real=real[:5], fake=fake)
  with pytest.raises(ValueError, match="fake has 3 samples"):
    prdc(real=real, fake=fake[:3])
  bad = fake.copy()
  bad[2, 3] = np.nan
  with pytest.raises(ValueError, match="fake has 1 NaN or inf"):
    prdc(real=real, fake=bad)
  with pytest.raises(ValueError, match=r"\(N, d\)"):
    prdc(real=real[0], fake=fake)
