"""Tests for jaxgan.metrics.preprocess: PyTorch's bilinear rule and the pipeline order.

The reference is a separate per-pixel numpy implementation of ATen's
``align_corners=False`` rule (and ``F.interpolate`` itself when torch is installed).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.metrics.preprocess import bilinear_matrix, preprocess, resize_bilinear


def _source(dst: int, n_in: int, n_out: int, exact: bool = False) -> tuple[int, int, float]:
  """(i0, i1, weight of i1) of one output pixel, written out as in ATen's UpSample.h.

  ``exact``: in float64 (the rule itself); otherwise in float32 like ATen's CPU kernel,
  whose ``scale * (dst + 0.5) - 0.5`` is one fused multiply-add (one rounding).
  """
  if exact:
    src = (n_in / n_out) * (dst + 0.5) - 0.5
  else:
    scale = np.float32(n_in) / np.float32(n_out)
    src = float(np.float32(float(scale) * (dst + 0.5) - 0.5))
  if src < 0:
    src = 0.0
  i0 = min(int(math.floor(src)), n_in - 1)
  i1 = i0 + 1 if i0 < n_in - 1 else i0
  lam = min(max(src - i0, 0.0), 1.0)
  return i0, i1, lam


def _resize_reference(img: np.ndarray, h_out: int, w_out: int) -> np.ndarray:
  """Per-pixel bilinear resize of one (H, W, C) float64 image."""
  h_in, w_in, c = img.shape
  out = np.zeros((h_out, w_out, c))
  for y in range(h_out):
    y0, y1, ly = _source(y, h_in, h_out)
    for x in range(w_out):
      x0, x1, lx = _source(x, w_in, w_out)
      out[y, x] = ((1 - ly) * ((1 - lx) * img[y0, x0] + lx * img[y0, x1])
                   + ly * ((1 - lx) * img[y1, x0] + lx * img[y1, x1]))
  return out


@pytest.mark.parametrize("n_in,n_out", [(32, 299), (28, 299), (299, 299), (512, 299),
                                        (1024, 299), (7, 3), (1, 5), (5, 1)])
def test_matrix_matches_the_per_pixel_rule(n_in, n_out):
  m = bilinear_matrix(n_in, n_out)
  assert m.shape == (n_out, n_in)
  # float32 arithmetic, and the exact rule (apart by float32 spacing at n_in: 6e-5 at 1024).
  for exact, atol in ((False, 1e-7), (True, 1e-4)):
    ref = np.zeros((n_out, n_in))
    for d in range(n_out):
      i0, i1, lam = _source(d, n_in, n_out, exact)
      ref[d, i0] += 1 - lam
      ref[d, i1] += lam
    np.testing.assert_allclose(m, ref, atol=atol, rtol=0)
  np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-7)


def test_matrix_closed_forms():
  # 2 -> 4: src = (d + 0.5) / 2 - 0.5 = -0.25 (clamped), 0.25, 0.75, 1.25 (past the end).
  np.testing.assert_allclose(bilinear_matrix(2, 4),
                             [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
  np.testing.assert_array_equal(bilinear_matrix(5, 5), np.eye(5))
  # 4 -> 2 (no antialiasing): src = 0.5, 2.5, the midpoints of pixel pairs.
  np.testing.assert_allclose(bilinear_matrix(4, 2), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])


def test_resize_matches_reference_on_images():
  rng = np.random.default_rng(0)
  img = rng.random((1, 6, 9, 3))
  got = np.asarray(resize_bilinear(jnp.asarray(img, jnp.float32), (13, 4)))
  np.testing.assert_allclose(got[0], _resize_reference(img[0], 13, 4), atol=1e-6)


def test_preprocess_order_and_range():
  rng = np.random.default_rng(1)
  u8 = rng.integers(0, 256, (2, 10, 12, 3), dtype=np.uint8)
  got = np.asarray(preprocess(jnp.asarray(u8), size=17))
  assert got.shape == (2, 17, 17, 3) and got.dtype == np.float32
  for i in range(2):  # [0, 1] -> resize -> [-1, 1], as pytorch-fid.
    ref = 2.0 * _resize_reference(u8[i] / 255.0, 17, 17) - 1.0
    np.testing.assert_allclose(got[i], ref, atol=2e-6)
  assert got.min() >= -1.0 and got.max() <= 1.0
  full = preprocess(jnp.asarray(u8))
  assert full.shape == (2, 299, 299, 3)


def test_grayscale_and_float_inputs():
  rng = np.random.default_rng(2)
  gray = rng.random((1, 8, 8, 1)).astype(np.float32)
  got = np.asarray(preprocess(jnp.asarray(gray), size=8))
  np.testing.assert_allclose(got, np.repeat(2 * gray - 1, 3, axis=-1), atol=1e-6)
  np.testing.assert_allclose(np.asarray(preprocess(jnp.full((1, 4, 4, 3), 255, jnp.uint8),
                                                   size=6)), 1.0)


def test_rejects_bad_images():
  with pytest.raises(ValueError, match="NHWC"):
    preprocess(jnp.zeros((2, 3, 8, 8)))
  with pytest.raises(ValueError, match="NHWC"):
    preprocess(jnp.zeros((8, 8, 3)))
  with pytest.raises(TypeError, match="uint8 or floating"):
    preprocess(jnp.zeros((1, 8, 8, 3), jnp.int32))


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28), (3, 64, 48), (3, 400, 300)])
def test_matches_torch_interpolate(shape):
  torch = pytest.importorskip("torch")
  rng = np.random.default_rng(3)
  x = rng.random((2,) + shape).astype(np.float32)  # NCHW, as pytorch-fid's input.
  ref = torch.nn.functional.interpolate(torch.from_numpy(x), size=(299, 299), mode="bilinear",
                                        align_corners=False)
  ref = 2 * ref - 1
  if shape[0] == 1:
    ref = ref.repeat(1, 3, 1, 1)
  got = np.asarray(preprocess(jnp.asarray(x.transpose(0, 2, 3, 1))))
  np.testing.assert_allclose(got, ref.numpy().transpose(0, 2, 3, 1), atol=1e-6, rtol=0)


def test_matrix_is_torchs_bit_for_bit():
  torch = pytest.importorskip("torch")
  for n_in, n_out in ((32, 299), (400, 299), (1024, 299), (3, 7)):
    impulses = torch.eye(n_in).reshape(n_in, 1, n_in, 1)  # Column j: the unit impulse at j.
    ref = torch.nn.functional.interpolate(impulses, size=(n_out, 1), mode="bilinear",
                                          align_corners=False)[:, 0, :, 0].numpy().T
    np.testing.assert_array_equal(bilinear_matrix(n_in, n_out).astype(np.float32), ref)
