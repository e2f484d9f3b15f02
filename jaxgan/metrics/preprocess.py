"""Images -> the FID Inception's input: [0, 1], bilinear resize to 299x299, then [-1, 1].

pytorch-fid (``InceptionV3.forward`` with ``resize_input=True, normalize_input=True``)
takes images in [0, 1] (``ToTensor`` of uint8 RGB, grayscale converted to RGB), resizes
them with ``F.interpolate(x, size=(299, 299), mode='bilinear', align_corners=False)``
(no antialiasing) and then maps them to [-1, 1] with ``2 x - 1``. We do the same steps
in the same order, in NHWC.

PyTorch's bilinear rule with ``align_corners=False`` (``area_pixel_compute_source_index``
in ATen's UpSample.h), per axis of input size ``n_in`` and output size ``n_out``:

    scale = n_in / n_out
    src   = max(scale * (dst + 0.5) - 0.5, 0)      # clamped below at 0 (not above)
    i0    = min(floor(src), n_in - 1);  i1 = min(i0 + 1, n_in - 1)
    out[dst] = (1 - (src - i0)) * in[i0] + (src - i0) * in[i1]

so the rows of the (n_out, n_in) matrix ``bilinear_matrix`` hold those two weights, and
a resize is two matrix products, one per axis. When downsampling, no antialiasing
filter is applied (each output pixel reads at most 2x2 input pixels), exactly as
PyTorch's default.

The weights reproduce ATen's float32 arithmetic bit for bit (checked against
``F.interpolate`` on CPU): ``scale`` is a float32 division, ``src`` is rounded to float32
once from the exact value of ``scale * (dst + 0.5) - 0.5`` (the compiled kernel uses a
fused multiply-add), and ``1 - lambda`` is a float32 subtraction. Weights from the
exact (float64) rule would differ by up to float32's spacing at ``n_in`` (6e-5 for 1024).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.nets.inception import INPUT_SIZE


def bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
  """(out_size, in_size) matrix of PyTorch's bilinear, align_corners=False weights."""
  if in_size < 1 or out_size < 1:
    raise ValueError(f"sizes must be positive, got in_size={in_size}, out_size={out_size}")
  f32 = np.float32
  scale = f32(in_size) / f32(out_size)
  dst = np.arange(out_size).astype(f32) + f32(0.5)
  # float32 x float32 is exact in float64, and so is subtracting 0.5 from it here, so one
  # rounding to float32 gives the fused multiply-add's result.
  src = (np.float64(scale) * dst.astype(np.float64) - 0.5).astype(f32)
  src = np.maximum(src, f32(0.0))
  i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
  i1 = np.minimum(i0 + 1, in_size - 1)
  lam1 = np.clip(src - i0.astype(f32), f32(0.0), f32(1.0))
  lam0 = f32(1.0) - lam1
  m = np.zeros((out_size, in_size))
  np.add.at(m, (np.arange(out_size), i0), lam0.astype(np.float64))
  np.add.at(m, (np.arange(out_size), i1), lam1.astype(np.float64))
  return m


def resize_bilinear(images: jax.Array, size: tuple[int, int]) -> jax.Array:
  """Resizes float NHWC images to ``size`` = (H', W') with PyTorch's bilinear rule."""
  _, h, w, _ = images.shape
  if (h, w) == tuple(size):
    return images  # The rule is the identity then (src = dst).
  mh = jnp.asarray(bilinear_matrix(h, size[0]), images.dtype)
  mw = jnp.asarray(bilinear_matrix(w, size[1]), images.dtype)
  hp = jax.lax.Precision.HIGHEST
  x = jnp.einsum("ph,nhwc->npwc", mh, images, precision=hp)
  return jnp.einsum("qw,npwc->npqc", mw, x, precision=hp)


def to_unit_range(images: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [0, 1]; floating images are taken to be in [0, 1] already."""
  if images.dtype == jnp.uint8:
    return images.astype(jnp.float32) / 255.0
  if not jnp.issubdtype(images.dtype, jnp.floating):
    raise TypeError(f"images must be uint8 or floating point in [0, 1], got {images.dtype}")
  return images.astype(jnp.float32)


def preprocess(images: jax.Array, size: int = INPUT_SIZE) -> jax.Array:
  """(N, H, W, 1|3) uint8 or [0, 1] float images -> (N, size, size, 3) float32 in [-1, 1]."""
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f"images must be NHWC with 1 (grayscale) or 3 (RGB) channels, got "
                     f"shape {images.shape}")
  x = to_unit_range(images)
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)  # As PIL's convert('RGB') does for grayscale.
  x = resize_bilinear(x, (size, size))
  return 2.0 * x - 1.0
