"""Images -> the FID Inception's input (299x299 RGB), in one of three conventions (modes).

FID values depend on how images are resized and scaled before the network (Parmar et
al. 2022, "On aliased resizing and surprising subtleties in GAN evaluation",
arXiv:2104.11222), so each mode reproduces one published implementation:

  mode       reproduces                     range at resize  resize (to 299x299)           then
  'pytorch'  pytorch-fid (default)          [0, 1]           bilinear, PyTorch's rule      2 x - 1
  'tf1'      TTUR, the original TF FID      [0, 255]         bilinear, TF1's legacy rule   (x - 128) / 128
  'clean'    clean-fid (mode='clean')       [0, 255]         PIL bicubic, antialiased,     (x - 128) / 128
                                                             per channel in float, clipped
                                                             to [0, 255], not re-quantized

Each resize is separable: a (n_out, n_in) matrix per axis, applied as two matrix
products (``resize``); the three matrix builders below hold the rules. Grayscale is
repeated to RGB first (PIL's ``convert('RGB')``). uint8 images are taken as [0, 255],
float images as [0, 1] (times 255 for 'tf1' and 'clean').

'pytorch' (``bilinear_matrix``): pytorch-fid's ``InceptionV3.forward`` with
``resize_input=True, normalize_input=True``: ``F.interpolate(x, size=(299, 299),
mode='bilinear', align_corners=False)`` on [0, 1] images (no antialiasing), then
``2 x - 1``. PyTorch's rule (``area_pixel_compute_source_index`` in ATen's
UpSample.h), per axis of input size ``n_in`` and output size ``n_out``:

    scale = n_in / n_out
    src   = max(scale * (dst + 0.5) - 0.5, 0)      # clamped below at 0 (not above)
    i0    = min(floor(src), n_in - 1);  i1 = min(i0 + 1, n_in - 1)
    out[dst] = (1 - (src - i0)) * in[i0] + (src - i0) * in[i1]

The weights reproduce ATen's float32 arithmetic bit for bit (checked against
``F.interpolate`` on CPU): ``scale`` is a float32 division, ``src`` is rounded to float32
once from the exact value of ``scale * (dst + 0.5) - 0.5`` (the compiled kernel uses a
fused multiply-add), and ``1 - lambda`` is a float32 subtraction. Weights from the
exact (float64) rule would differ by up to float32's spacing at ``n_in`` (6e-5 for 1024).

'tf1' (``tf1_bilinear_matrix``): TTUR (bioinf-jku/TTUR ``fid.py``) feeds [0, 255] images
to the 2015 graph, which resizes them with TF1's ``ResizeBilinear`` (``align_corners=
False``, ``half_pixel_centers=False``; the legacy scaler of TensorFlow's
``resize_bilinear_op.cc``) and then computes ``(x - 128) / 128`` (torch-fidelity's
``interpolate_bilinear_2d_like_tensorflow1x`` reproduces the same steps):

    scale = float32(n_in) / n_out;   src = float32(dst * scale)    # no half-pixel shift
    i0 = floor(src);   i1 = min(ceil(src), n_in - 1);   lambda = src - i0

'clean' (``pil_bicubic_matrix``): clean-fid resizes each channel as a PIL image of mode
'F' (float32) with ``Image.resize(size, Image.BICUBIC)`` and clips to [0, 255]. Pillow's
``Resample.c``: the bicubic kernel with a = -0.5 (Keys 1981),

    k(x) = (a + 2)|x|^3 - (a + 3)|x|^2 + 1   for |x| < 1
           a|x|^3 - 5a|x|^2 + 8a|x| - 4a      for 1 <= |x| < 2,   0 beyond,

widened when downsampling (antialiasing): with scale = n_in / n_out and
fs = max(scale, 1), output pixel ``dst`` has centre c = (dst + 0.5) scale and takes
input pixels j in [trunc(c - 2 fs + 0.5), trunc(c + 2 fs + 0.5)) (clamped to the image)
with weights k((j - c + 0.5) / fs), normalised to sum to 1 (in float64; the pixels are
summed in float64 and stored in float32 after each of the two passes).

Precision: the matrix products run in float32 at 'highest' precision. Against the
originals, on the network input (after the final scaling; tests/test_preprocess.py and
tests/test_preprocess_modes.py), max abs: 'pytorch' <= 1e-6 from ``F.interpolate`` (its
matrix equals PyTorch's weights bit for bit); 'tf1' <= 3.6e-7 from TensorFlow's
``tf.compat.v1.image.resize_bilinear`` (matrix bit for bit) and from a numpy rendering
of TF1's per-pixel formula; 'clean' <= 4.8e-7 from Pillow's mode 'F' bicubic (matrix
within 6e-8 of Pillow's float64 weights). All tested at 1e-6.

Only the preprocessing is checked here; whole-pipeline agreement with TTUR or clean-fid
also depends on their networks (TTUR's TF graph, clean-fid's TorchScript export of it)
against pytorch-fid's ported weights, which this module does not control.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.nets.inception import INPUT_SIZE

MODES = ("pytorch", "tf1", "clean")
DEFAULT_MODE = "pytorch"


def _check_sizes(in_size: int, out_size: int) -> None:
  if in_size < 1 or out_size < 1:
    raise ValueError(f"sizes must be positive, got in_size={in_size}, out_size={out_size}")


def _two_tap_matrix(in_size: int, i0, i1, lam1) -> np.ndarray:
  """(n_out, n_in) matrix with weight 1 - lam1 (float32) at i0 and lam1 at i1 per row."""
  f32 = np.float32
  lam0 = f32(1.0) - lam1
  out_size = len(i0)
  m = np.zeros((out_size, in_size))
  np.add.at(m, (np.arange(out_size), i0), lam0.astype(np.float64))
  np.add.at(m, (np.arange(out_size), i1), lam1.astype(np.float64))
  return m


def bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
  """(out_size, in_size) matrix of PyTorch's bilinear, align_corners=False weights."""
  _check_sizes(in_size, out_size)
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
  return _two_tap_matrix(in_size, i0, i1, lam1)


def tf1_bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
  """(out_size, in_size) matrix of TF1's ResizeBilinear (align_corners=False, no
  half-pixel centres): src = float32(dst * float32(n_in / n_out)), no shift."""
  _check_sizes(in_size, out_size)
  f32 = np.float32
  scale = f32(in_size) / f32(out_size)
  src = np.arange(out_size).astype(f32) * scale  # One float32 rounding, as TF's scaler.
  floor = np.floor(src)
  i0 = floor.astype(np.int64)  # src >= 0 and < n_in: no clamping needed below.
  i1 = np.minimum(np.ceil(src).astype(np.int64), in_size - 1)
  return _two_tap_matrix(in_size, i0, i1, (src - floor).astype(f32))


def _bicubic_kernel(x: np.ndarray, a: float = -0.5) -> np.ndarray:
  """Keys' cubic convolution kernel with Pillow's a = -0.5."""
  x = np.abs(x)
  inner = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
  outer = (((x - 5.0) * x + 8.0) * x - 4.0) * a
  return np.where(x < 1.0, inner, np.where(x < 2.0, outer, 0.0))


def pil_bicubic_matrix(in_size: int, out_size: int) -> np.ndarray:
  """(out_size, in_size) matrix of Pillow's antialiased bicubic resize (float64 weights;
  the support widens by n_in / n_out when downsampling)."""
  _check_sizes(in_size, out_size)
  scale = in_size / out_size
  filterscale = max(scale, 1.0)
  support = 2.0 * filterscale  # The bicubic kernel's support is 2.
  m = np.zeros((out_size, in_size))
  for dst in range(out_size):
    center = (dst + 0.5) * scale
    lo = max(int(center - support + 0.5), 0)  # int(): truncation, as C's cast.
    hi = min(int(center + support + 0.5), in_size)
    w = _bicubic_kernel((np.arange(lo, hi) - center + 0.5) * (1.0 / filterscale))
    total = w.sum()
    m[dst, lo:hi] = w / total if total != 0.0 else w
  return m


_MATRICES: dict[str, Callable[[int, int], np.ndarray]] = {
    "pytorch": bilinear_matrix, "tf1": tf1_bilinear_matrix, "clean": pil_bicubic_matrix}


def check_mode(mode: str) -> str:
  """``mode`` if it is one of MODES; ValueError naming the choices otherwise."""
  if mode not in MODES:
    raise ValueError(f"unknown preprocessing mode {mode!r}; choose one of {', '.join(MODES)}")
  return mode


@functools.lru_cache(maxsize=32)
def resize_matrix(mode: str, in_size: int, out_size: int) -> np.ndarray:
  """The (out_size, in_size) resize matrix of ``mode`` (cached; read-only)."""
  m = _MATRICES[check_mode(mode)](in_size, out_size)
  m.flags.writeable = False
  return m


def resize(images: jax.Array, size: tuple[int, int], mode: str = DEFAULT_MODE) -> jax.Array:
  """Resizes float NHWC images to ``size`` = (H', W') with ``mode``'s rule (no clipping)."""
  _, h, w, _ = images.shape
  if (h, w) == tuple(size):
    return images  # Every rule is the identity then.
  mh = jnp.asarray(resize_matrix(mode, h, size[0]), images.dtype)
  mw = jnp.asarray(resize_matrix(mode, w, size[1]), images.dtype)
  hp = jax.lax.Precision.HIGHEST
  x = jnp.einsum("ph,nhwc->npwc", mh, images, precision=hp)
  return jnp.einsum("qw,npwc->npqc", mw, x, precision=hp)


def resize_bilinear(images: jax.Array, size: tuple[int, int]) -> jax.Array:
  """Resizes float NHWC images to ``size`` = (H', W') with PyTorch's bilinear rule."""
  return resize(images, size, "pytorch")


def to_unit_range(images: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [0, 1]; floating images are taken to be in [0, 1] already."""
  if images.dtype == jnp.uint8:
    return images.astype(jnp.float32) / 255.0
  if not jnp.issubdtype(images.dtype, jnp.floating):
    raise TypeError(f"images must be uint8 or floating point in [0, 1], got {images.dtype}")
  return images.astype(jnp.float32)


def to_pixel_range(images: jax.Array) -> jax.Array:
  """uint8 -> float32 [0, 255] (exact); floating images in [0, 1] -> times 255."""
  if images.dtype == jnp.uint8:
    return images.astype(jnp.float32)
  return to_unit_range(images) * 255.0


def preprocess(images: jax.Array, size: int = INPUT_SIZE, mode: str = DEFAULT_MODE) -> jax.Array:
  """(N, H, W, 1|3) uint8 or [0, 1] float images -> (N, size, size, 3) float32 network
  input, as ``mode`` ('pytorch', 'tf1' or 'clean'; see the module docstring) does it."""
  check_mode(mode)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f"images must be NHWC with 1 (grayscale) or 3 (RGB) channels, got "
                     f"shape {images.shape}")
  x = to_unit_range(images) if mode == "pytorch" else to_pixel_range(images)
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)  # As PIL's convert('RGB') does for grayscale.
  x = resize(x, (size, size), mode)
  if mode == "pytorch":
    return 2.0 * x - 1.0
  if mode == "clean":
    x = jnp.clip(x, 0.0, 255.0)  # clean-fid clips PIL's output; bicubic overshoots.
  return (x - 128.0) / 128.0
