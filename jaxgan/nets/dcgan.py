"""DCGAN generator and discriminator (Radford et al. 2016) for 28, 32 and 64 pixel images.

The architecture guidelines of the DCGAN paper (sec. 3), which the GAN tutorial's
sec. 4.2 repeats:
- no pooling: strided convolutions in D, transposed ("fractionally strided")
  convolutions in G;
- batch normalisation in most layers, but not on G's output layer nor D's input layer;
- ReLU in G (tanh on its output), LeakyReLU(0.2) in D;
- weights initialised from N(0, 0.02).

Layout for an image of size S: G projects z (as a 1x1 map) to a ``start`` x ``start``
map with a transposed convolution (``start`` = 7 for 28 px, 4 for 32 and 64 px), then
doubles the resolution with 4x4 stride-2 transposed convolutions while halving the
feature count, ending at ``features`` channels before the output layer. D mirrors it.

Batch statistics: in training mode every call normalises with the statistics of the
batch it is given, so calling D once on a real batch and once on a fake batch
normalises them separately, as the tutorial prescribes. For WGAN-GP, use
``norm='none'`` or ``'layer'`` in the critic: batch norm couples examples, which breaks
the per-example gradient penalty. G may instead use reference or virtual batch norm
(``jaxgan.nets.normalization``): its reference noise (and labels) are drawn once at
initialisation and kept, untrained, in the 'batch_stats' collection.

Labels and the output head are in ``jaxgan.nets.conditioning``. D's last layer is a
dense layer on the flattened final feature map (the same function as DCGAN's final
valid convolution), so its features can feed the auxiliary heads.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.nets.conditioning import DiscriminatorHead, concat_label
from jaxgan.nets.normalization import ReferenceNorm
from jaxgan.nets.spectral_norm import normalized
from jaxgan.nets.strided_conv import DownConv, UpConv

NORMS = ("batch", "layer", "none")
G_NORMS = NORMS + ("reference", "virtual")
IMAGE_SIZES = {28: 7, 32: 4, 64: 4}

_weight_init = nn.initializers.normal(0.02)


def _scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def _layout(image_size: int) -> tuple[int, int]:
  """Returns (start size, number of stride-2 layers) for a supported image size."""
  if image_size not in IMAGE_SIZES:
    raise ValueError(f"DCGAN image_size must be one of {sorted(IMAGE_SIZES)}, got {image_size}")
  start = IMAGE_SIZES[image_size]
  n = 0
  while start * 2**n < image_size:
    n += 1
  return start, n


def _norm(kind: str, train: bool, ref_size: int = 0, dtype: Any = jnp.float32):
  if kind == "batch":
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        scale_init=_scale_init, dtype=dtype)
  if kind == "layer":
    return nn.LayerNorm(reduction_axes=(-3, -2, -1), epsilon=1e-5, scale_init=_scale_init,
                        dtype=dtype)
  if kind in ("reference", "virtual"):
    return ReferenceNorm(ref_size, virtual=kind == "virtual")
  if kind == "none":
    return lambda x: x
  raise ValueError(f"unknown norm {kind!r}; expected one of: {', '.join(G_NORMS)}")


def prepend_reference(module: nn.Module, z: jax.Array, labels: jax.Array | None,
                      ref_size: int, num_classes: int):
  """Puts the fixed reference batch (drawn at init) in front of z and the labels."""
  rng = lambda: module.make_rng("params")
  ref_z = module.variable("batch_stats", "reference_z",
                          lambda: jax.random.normal(rng(), (ref_size, z.shape[-1]), z.dtype))
  z = jnp.concatenate([ref_z.value, z])
  if num_classes:
    ref_y = module.variable("batch_stats", "reference_labels",
                            lambda: jax.random.randint(rng(), (ref_size,), 0, num_classes))
    labels = jnp.concatenate([ref_y.value, labels])
  return z, labels


# 4x4 stride-2 convolutions that exactly double / halve the resolution, like PyTorch's
# ConvTranspose2d(4, 2, padding=1) / Conv2d(4, 2, padding=1). UpConv and DownConv have
# nn.ConvTranspose's and nn.Conv's parameters (and take their names below, so parameter
# trees are unchanged) but are computed without dilation on CPUs
# (jaxgan.nets.strided_conv).
_up = functools.partial(UpConv, kernel_init=_weight_init)
_down = functools.partial(DownConv, kernel_init=_weight_init)


class DCGANGenerator(nn.Module):
  """z (B, latent_dim) [and labels (B,)] -> images (B, S, S, channels) in [-1, 1]."""

  image_size: int = 64
  channels: int = 3
  features: int = 64
  norm: str = "batch"
  num_classes: int = 0   # > 0: class-conditional (one-hot label concatenated to z).
  ref_size: int = 64     # Reference batch size for norm 'reference' / 'virtual'.
  dtype: Any = jnp.float32  # Computation dtype (bfloat16: mixed precision); params float32.
  # How the stride-2 transposed convolutions are computed (jaxgan.nets.strided_conv):
  # 'auto' (by output phase on CPU, lax.conv_transpose elsewhere) or one of UP_METHODS.
  upsample_method: str = "auto"

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    start, n_up = _layout(self.image_size)
    reference = self.norm in ("reference", "virtual")
    if reference:
      z, labels = prepend_reference(self, z, labels, self.ref_size, self.num_classes)
    if self.num_classes:
      z = concat_label(z, labels, self.num_classes)
    feats = self.features * 2 ** (n_up - 1)
    use_bias = self.norm == "none"
    x = z.reshape((z.shape[0], 1, 1, z.shape[-1]))
    x = nn.ConvTranspose(feats, (start, start), padding="VALID", use_bias=use_bias,
                         kernel_init=_weight_init, dtype=self.dtype)(x)
    norm = lambda: _norm(self.norm, train, self.ref_size, self.dtype)
    x = nn.relu(norm()(x))
    for i in range(1, n_up):
      feats //= 2
      up = _up(feats, use_bias=use_bias, dtype=self.dtype, method=self.upsample_method,
               name=f"ConvTranspose_{i}")
      x = nn.relu(norm()(up(x)))
    x = _up(self.channels, dtype=self.dtype, method=self.upsample_method,
            name=f"ConvTranspose_{n_up}")(x)
    x = jnp.tanh(x)  # No norm on the output layer.
    return x[self.ref_size:] if reference else x


class DCGANDiscriminator(nn.Module):
  """Images (B, S, S, C) [and labels] -> logits (B,) (and aux outputs if ``with_aux``)."""

  image_size: int = 64
  features: int = 64
  norm: str = "batch"
  num_classes: int = 0
  conditioning: str = "none"     # none | concat | projection
  aux_classifier: bool = False   # AC-GAN class logits.
  minibatch_kernels: int = 0
  dtype: Any = jnp.float32
  spectral_norm: bool = False  # Every layer spectrally normalized (jaxgan.nets.spectral_norm).
  # How the stride-2 convolutions are computed (jaxgan.nets.strided_conv): 'auto'
  # (a matrix product of strided patches on CPU, strided elsewhere) or one of DOWN_METHODS.
  downsample_method: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True,
               with_aux: bool = False):
    start, n_down = _layout(self.image_size)
    sn = lambda layer: normalized(layer, self.spectral_norm, train)
    if x.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"DCGANDiscriminator expects {self.image_size}x{self.image_size} "
                       f"images, got shape {x.shape}")
    if self.conditioning == "concat":
      x = concat_label(x, labels, self.num_classes)
    feats = self.features
    down = functools.partial(_down, dtype=self.dtype, method=self.downsample_method)
    x = nn.leaky_relu(sn(down(feats, name="Conv_0"))(x), 0.2)  # No norm on the input.
    for i in range(1, n_down):
      feats *= 2
      x = sn(down(feats, use_bias=self.norm == "none", name=f"Conv_{i}"))(x)
      x = nn.leaky_relu(_norm(self.norm, train, dtype=self.dtype)(x), 0.2)
    head = DiscriminatorHead(self.num_classes, self.conditioning, self.aux_classifier,
                             self.minibatch_kernels, self.dtype, self.spectral_norm)
    logits, aux = head(x.reshape((x.shape[0], -1)), labels, train)
    return (logits, aux) if with_aux else logits
