"""The 'tf1' and 'clean' preprocessing modes against references computed outside jaxgan.

'tf1': a per-pixel numpy implementation of TF1's ResizeBilinear (align_corners=False,
half_pixel_centers=False) written here from TensorFlow's legacy rule, as torch-fidelity's
``interpolate_bilinear_2d_like_tensorflow1x`` reproduces it (float32 throughout: src =
float32(dst * float32(in / out)), top/bottom lerps, then the vertical lerp), and
TensorFlow's own ``tf.compat.v1.image.resize_bilinear`` when TensorFlow is importable.
'clean': Pillow's ``Image.resize(..., Image.BICUBIC)`` of each channel as a mode 'F'
image, clipped to [0, 255] (clean-fid's ``resize_single_channel``).

Tolerances, on the network input (after (x - 128) / 128), max abs: 1e-6 (float32 matrix
products against float32 lerps or PIL's float64 sums; measured <= 4.8e-7). The resize
matrices themselves: TF1's equals TensorFlow's weights bit for bit; Pillow's within
1e-7 (its float64 weights rounded to float32).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxgan.metrics.preprocess import (pil_bicubic_matrix, preprocess, resize_matrix,
                                       tf1_bilinear_matrix)

ATOL = 1e-6
SHAPES = [(32, 32, 3), (28, 28, 1), (64, 48, 3), (512, 512, 3), (300, 17, 3)]


def _images(shape, n=2, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (n,) + shape, dtype=np.uint8)


def _rgb(images: np.ndarray) -> np.ndarray:
  return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def _tf1_axis(n_in: int, n_out: int):
  """(lower, upper, lerp) per output index, TF1's legacy scaler in float32."""
  scale = np.float32(n_in) / np.float32(n_out)
  src = np.array([np.float32(i) * scale for i in range(n_out)], np.float32)
  lower = np.floor(src).astype(int)
  upper = np.minimum(np.ceil(src).astype(int), n_in - 1)
  return lower, upper, (src - np.floor(src)).astype(np.float32)


def _tf1_reference(img: np.ndarray, h_out: int, w_out: int) -> np.ndarray:
  """(H, W, C) float32 [0, 255] -> (h_out, w_out, C), TF1's per-pixel float32 formula."""
  y0, y1, ly = _tf1_axis(img.shape[0], h_out)
  x0, x1, lx = _tf1_axis(img.shape[1], w_out)
  lx, ly = lx[None, :, None], ly[:, None, None]
  tl, tr = img[y0][:, x0], img[y0][:, x1]
  bl, br = img[y1][:, x0], img[y1][:, x1]
  top = tl + (tr - tl) * lx
  bottom = bl + (br - bl) * lx
  return top + (bottom - top) * ly


def _pil_reference(img: np.ndarray, h_out: int, w_out: int) -> np.ndarray:
  """clean-fid's resize: each channel a mode 'F' PIL image, BICUBIC, clipped."""
  channels = [np.asarray(Image.fromarray(img[..., c].astype(np.float32), mode="F")
                         .resize((w_out, h_out), Image.BICUBIC)) for c in range(img.shape[-1])]
  return np.clip(np.stack(channels, axis=-1), 0, 255)


@pytest.mark.parametrize("shape", SHAPES)
def test_tf1_matches_the_tf1_formula(shape):
  u8 = _images(shape)
  got = np.asarray(preprocess(jnp.asarray(u8), mode="tf1"))
  assert got.shape == (2, 299, 299, 3) and got.dtype == np.float32
  for i in range(2):
    ref = (_tf1_reference(_rgb(u8[i]).astype(np.float32), 299, 299) - 128.0) / 128.0
    np.testing.assert_allclose(got[i], ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("shape", SHAPES)
def test_clean_matches_pil_bicubic_per_channel(shape):
  u8 = _images(shape, seed=1)
  got = np.asarray(preprocess(jnp.asarray(u8), mode="clean"))
  assert got.shape == (2, 299, 299, 3) and got.dtype == np.float32
  for i in range(2):
    ref = (_pil_reference(_rgb(u8[i]), 299, 299).astype(np.float64) - 128.0) / 128.0
    np.testing.assert_allclose(got[i], ref, atol=ATOL, rtol=0)


def test_clean_downsampling_from_1024_matches_pil():
  u8 = _images((1024, 1024, 3), n=1, seed=2)  # Antialiasing: ~14 taps per output pixel.
  got = np.asarray(preprocess(jnp.asarray(u8), mode="clean"))[0]
  ref = (_pil_reference(u8[0], 299, 299).astype(np.float64) - 128.0) / 128.0
  np.testing.assert_allclose(got, ref, atol=ATOL, rtol=0)
  assert np.count_nonzero(pil_bicubic_matrix(1024, 299)[150]) >= 13


@pytest.mark.parametrize("n_in,n_out", [(32, 299), (1024, 299), (299, 299), (7, 3), (1, 4)])
def test_bicubic_matrix_is_pils_weights(n_in, n_out):
  impulses = np.eye(n_in, dtype=np.float32)  # Row j: the unit impulse at j.
  columns = [np.asarray(Image.fromarray(impulses[j:j + 1], mode="F")
                        .resize((n_out, 1), Image.BICUBIC))[0] for j in range(n_in)]
  np.testing.assert_allclose(pil_bicubic_matrix(n_in, n_out), np.stack(columns, axis=1),
                             atol=1e-7, rtol=0)


def test_tf1_matrix_closed_forms():
  # 2 -> 4: src = dst / 2 = 0, 0.5, 1, 1.5 (no half-pixel shift; the last one clamps).
  np.testing.assert_array_equal(tf1_bilinear_matrix(2, 4), [[1, 0], [0.5, 0.5], [0, 1], [0, 1]])
  # 4 -> 2: src = 0, 2: pixels 0 and 2 (PyTorch's rule takes the midpoints 0.5 and 2.5).
  np.testing.assert_array_equal(tf1_bilinear_matrix(4, 2), [[1, 0, 0, 0], [0, 0, 1, 0]])
  np.testing.assert_array_equal(tf1_bilinear_matrix(5, 5), np.eye(5))


def test_normalisation_and_value_ranges():
  grey = np.full((1, 8, 8, 3), 128, np.uint8)
  white = np.full((1, 8, 8, 3), 255, np.uint8)
  for mode in ("tf1", "clean"):  # (x - 128) / 128: 128 -> 0, 255 -> 127/128.
    np.testing.assert_allclose(np.asarray(preprocess(jnp.asarray(grey), 12, mode)), 0.0,
                               atol=ATOL)
    np.testing.assert_allclose(np.asarray(preprocess(jnp.asarray(white), 12, mode)), 127 / 128,
                               atol=ATOL)
  np.testing.assert_allclose(np.asarray(preprocess(jnp.asarray(grey), 12, "pytorch")),
                             2 * 128 / 255 - 1, atol=ATOL)  # 2 x - 1 on x = u / 255.
  half = np.full((1, 8, 8, 1), 0.5, np.float32)  # Floats are [0, 1]: times 255 first.
  np.testing.assert_allclose(np.asarray(preprocess(jnp.asarray(half), 12, "tf1")),
                             (127.5 - 128) / 128, atol=ATOL)
  # Bicubic overshoots at a step edge; clean-fid clips to [0, 255] before normalising.
  edge = np.zeros((1, 8, 8, 3), np.uint8)
  edge[:, :, 4:] = 255
  out = np.asarray(preprocess(jnp.asarray(edge), 29, "clean"))
  assert out.min() == -1.0 and abs(out.max() - 127 / 128) <= ATOL  # Clipped, not beyond.


def test_unknown_mode_is_refused():
  with pytest.raises(ValueError, match="unknown preprocessing mode 'tf2'.*pytorch, tf1, clean"):
    preprocess(jnp.zeros((1, 8, 8, 3), jnp.uint8), mode="tf2")
  with pytest.raises(ValueError, match="sizes must be positive"):
    resize_matrix("clean", 0, 3)


def test_tf1_and_clean_match_tensorflow_and_pil_on_one_batch():
  """TensorFlow itself, when it is installed (tensorflow-cpu comes with tfds here)."""
  tf = pytest.importorskip("tensorflow")
  resize = tf.compat.v1.image.resize_bilinear
  for shape in ((32, 32, 3), (64, 48, 3), (512, 300, 3), (1, 5, 3)):
    u8 = _images(shape, seed=3)
    ref = resize(u8.astype(np.float32), (299, 299), align_corners=False,
                 half_pixel_centers=False).numpy()
    got = np.asarray(preprocess(jnp.asarray(u8), mode="tf1"))
    np.testing.assert_allclose(got, (ref.astype(np.float64) - 128) / 128, atol=ATOL, rtol=0)
  for n_in, n_out in ((32, 299), (1024, 299), (3, 7), (7, 3)):
    impulses = np.eye(n_in, dtype=np.float32).reshape(n_in, 1, n_in, 1)
    weights = resize(impulses, (1, n_out), align_corners=False,
                     half_pixel_centers=False).numpy()[:, 0, :, 0].T
    np.testing.assert_array_equal(tf1_bilinear_matrix(n_in, n_out).astype(np.float32), weights)
