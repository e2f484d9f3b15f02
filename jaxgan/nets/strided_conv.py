"""DCGAN's stride-2 4x4 convolutions, computed without dilation on CPUs.

DCGAN doubles the resolution in G with ``nn.ConvTranspose(kernel 4, stride 2, padding
((2, 2), (2, 2)))`` (PyTorch's ``ConvTranspose2d(4, 2, padding=1)``) and halves it in D
with ``nn.Conv(kernel 4, stride 2, padding 1)``. A transposed convolution, the input
gradient of a strided one, and the kernel gradients of both (and, for WGAN-GP's
gradient penalty, their second derivatives) are convolutions with dilated inputs or
kernels. XLA:CPU runs those through a slow generic path: G's transposed convolutions
were half of the DCGAN step, and at full size the WGAN-GP step was 10x slower than
PyTorch's (bench/results/cpu-2core-2026-12-05-gaps.md). Rewritten without dilation:

- up (``UpConv``): output pixel (2m + a, 2n + b) only ever meets the taps
  ``k[a::2, b::2]``, so the layer is four stride-1 2x2 convolutions, one per phase (a, b)
  with padding ((1 - a, a), (1 - b, b)), interleaved; with few output channels, one 3x3
  convolution giving the four phases as channels, then depth-to-space, is cheaper.
- down (``DownConv``): the 16 taps' strided views of the padded input, side by side,
  times the kernel as a (16 C, F) matrix: every derivative, to any order, is a matrix
  product, a slice or a pad. (Space-to-depth into a stride-1 2x2 convolution was
  tried: as fast to first order, but WGAN-GP's second derivatives became convolutions
  over the whole image that XLA:CPU runs 2.3x slower than the strided original.)

The same products, summed in another order (float32 rounding, about 1e-6 relative).
Both modules keep ``nn.ConvTranspose``'s / ``nn.Conv``'s parameters (``kernel`` (4, 4,
in, out) and ``bias``, same initialisers and dtypes), so parameter trees and checkpoints
do not change. ``method``: ``'auto'`` (the rewrite on CPU; XLA's own strided convolution
elsewhere, where cuDNN runs it directly) or a method by name. The patches of ``DownConv``
hold 4x the layer's input, as one array.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

UP_METHODS = ("auto", "phases", "phases3x3", "dilated")
DOWN_METHODS = ("auto", "patches", "strided")
_DN = ("NHWC", "HWIO", "NHWC")
# Below this many output channels, 'auto' on CPU uses one 3x3 convolution for the four
# phases (measured on 2 CPU cores: the 3-channel output layer 1.2 vs 2.3 ms per
# forward + backward; from 16 channels up, four 2x2 convolutions win).
_FEW_CHANNELS = 8


def _check(kernel: jax.Array, method: str, methods: tuple[str, ...], what: str):
  if method not in methods:
    raise ValueError(f"unknown {what} method {method!r}; expected one of: {', '.join(methods)}")
  if kernel.shape[:2] != (4, 4):
    raise ValueError(f"the stride-2 {what} needs a 4x4 kernel, got {kernel.shape[:2]}")


# ----------------------------------------------------------------------------- up


def dilated(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """What ``nn.ConvTranspose(strides=2, padding=((2, 2), (2, 2)))`` computes."""
  return lax.conv_transpose(x, kernel, (2, 2), ((2, 2), (2, 2)), dimension_numbers=_DN)


def phases(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The same layer as four stride-1 2x2 convolutions, one per output phase."""
  b, h, w, _ = x.shape
  rows = []
  for a in (0, 1):
    cols = [lax.conv_general_dilated(x, kernel[a::2, c::2], (1, 1),
                                     ((1 - a, a), (1 - c, c)), dimension_numbers=_DN)
            for c in (0, 1)]
    rows.append(jnp.stack(cols, axis=3))            # (B, H, W, 2 [column phase], F)
  y = jnp.stack(rows, axis=2)                       # (B, H, 2 [row phase], W, 2, F)
  return y.reshape(b, 2 * h, 2 * w, -1)


def _phase_kernel_3x3(kernel: jax.Array) -> jax.Array:
  """(4, 4, C, F) -> (3, 3, C, 4F): the four phases' 2x2 taps placed in a 3x3 window.

  Along one axis, phase 0 reads input rows m - 1, m with taps 0, 2 and phase 1 reads
  rows m, m + 1 with taps 1, 3; over the window (m - 1, m, m + 1) that is taps
  (0, 2, -) and (-, 1, 3).
  """
  zero = jnp.zeros_like(kernel[:1])
  rows = [jnp.concatenate([kernel[0::2], zero]), jnp.concatenate([zero, kernel[1::2]])]
  per_phase = []
  for r in rows:                                    # (3, 4, C, F) for row phase a
    zero_c = jnp.zeros_like(r[:, :1])
    per_phase.append([jnp.concatenate([r[:, 0::2], zero_c], axis=1),
                      jnp.concatenate([zero_c, r[:, 1::2]], axis=1)])
  k = jnp.stack([jnp.stack(p, axis=-2) for p in per_phase], axis=-3)  # (3, 3, C, 2, 2, F)
  return k.reshape(k.shape[:3] + (-1,))


def phases3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The same layer as one 3x3 convolution giving the four phases as channels."""
  b, h, w, _ = x.shape
  f = kernel.shape[-1]
  y = lax.conv_general_dilated(x, _phase_kernel_3x3(kernel), (1, 1), ((1, 1), (1, 1)),
                               dimension_numbers=_DN)
  y = y.reshape(b, h, w, 2, 2, f).transpose(0, 1, 3, 2, 4, 5)
  return y.reshape(b, 2 * h, 2 * w, f)


def upsample(x: jax.Array, kernel: jax.Array, method: str = "auto") -> jax.Array:
  """The resolution-doubling transposed convolution, computed by ``method``."""
  _check(kernel, method, UP_METHODS, "transposed-convolution")
  if method == "auto":
    on_cpu = phases3x3 if kernel.shape[-1] < _FEW_CHANNELS else phases
    return lax.platform_dependent(x, kernel, cpu=on_cpu, default=dilated)
  return {"phases": phases, "phases3x3": phases3x3, "dilated": dilated}[method](x, kernel)


# ----------------------------------------------------------------------------- down


def strided(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """What ``nn.Conv(kernel 4, strides 2, padding ((1, 1), (1, 1)))`` computes."""
  return lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)), dimension_numbers=_DN)


def patches(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The same layer as one matrix product: the 16 taps' strided views of the padded input
  side by side (B, H/2, W/2, 16C) times the kernel as a (16C, F) matrix."""
  b, h, w, c = x.shape
  ho, wo = (h - 2) // 2 + 1, (w - 2) // 2 + 1
  x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  taps = [lax.slice(x, (0, t, u, 0), (b, t + 2 * ho - 1, u + 2 * wo - 1, c), (1, 2, 2, 1))
          for t in range(4) for u in range(4)]
  return jnp.concatenate(taps, axis=-1) @ kernel.reshape(16 * c, kernel.shape[-1])


def downsample(x: jax.Array, kernel: jax.Array, method: str = "auto") -> jax.Array:
  """The resolution-halving convolution, computed by ``method``."""
  _check(kernel, method, DOWN_METHODS, "convolution")
  if method == "auto":
    return lax.platform_dependent(x, kernel, cpu=patches, default=strided)
  return {"patches": patches, "strided": strided}[method](x, kernel)


# ----------------------------------------------------------------------------- modules


class _Stride2Conv(nn.Module):
  features: int
  use_bias: bool = True
  dtype: Any = None
  param_dtype: Any = jnp.float32
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros_init()
  method: str = "auto"

  def _apply(self, x: jax.Array, fn: Callable) -> jax.Array:
    if x.ndim != 4:
      raise ValueError(f"{type(self).__name__} expects (batch, height, width, channels), "
                       f"got {x.shape}")
    kernel = self.param("kernel", self.kernel_init, (4, 4, x.shape[-1], self.features),
                        self.param_dtype)
    bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    y = fn(x, kernel, self.method)
    return y if bias is None else y + bias


class UpConv(_Stride2Conv):
  """``nn.ConvTranspose(features, (4, 4), (2, 2), padding=((2, 2), (2, 2)))``, same params.

  Doubles the height and width of (B, H, W, C) inputs. ``name`` it as the
  ``nn.ConvTranspose`` it replaces to keep a parameter tree unchanged.
  """

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return self._apply(x, upsample)


class DownConv(_Stride2Conv):
  """``nn.Conv(features, (4, 4), (2, 2), padding=((1, 1), (1, 1)))``, same params.

  Halves the height and width of (B, H, W, C) inputs. ``name`` it as the ``nn.Conv`` it
  replaces to keep a parameter tree unchanged.
  """

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return self._apply(x, downsample)
