"""Multilayer perceptrons for low-dimensional data (the toy problems).

The WGAN-GP reference toy script (Gulrajani et al. 2017, ``gan_toy.py``) uses three
hidden ReLU layers of width 512 for both players; those are the defaults here. PacGAN's
synthetic experiments (Lin et al. 2018, their code's 2-D grid and ring) use a generator
of 4 x 400 ReLU units with batch norm and a discriminator of 3 x 200 maxout units with 5
pieces (``make_models('pacgan_mlp', ...)``): ``batch_norm`` and ``maxout`` below.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.nets.conditioning import DiscriminatorHead, concat_label
from jaxgan.nets.spectral_norm import normalized

# He initialisation, as the reference gan_toy.py uses (uniform with variance 2 / fan_in).
_he_uniform = nn.initializers.variance_scaling(2.0, "fan_in", "uniform")


class MLP(nn.Module):
  """``depth`` hidden ReLU layers of ``width`` units, then a linear layer of ``out_dim``.

  ``batch_norm``: batch normalisation before each ReLU (statistics of the batch in
  training, running averages in evaluation).
  """

  out_dim: int
  width: int = 512
  depth: int = 3
  dtype: Any = jnp.float32  # Computation dtype; parameters stay float32.
  batch_norm: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    for _ in range(self.depth):
      x = nn.Dense(self.width, kernel_init=_he_uniform, dtype=self.dtype)(x)
      if self.batch_norm:
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype)(x)
      x = nn.relu(x)
    return nn.Dense(self.out_dim, kernel_init=_he_uniform, dtype=self.dtype)(x)


class MLPGenerator(nn.Module):
  """Maps z (B, latent_dim) [and labels] to samples of shape (B, *data_shape)."""

  data_shape: Sequence[int]
  width: int = 512
  depth: int = 3
  num_classes: int = 0
  dtype: Any = jnp.float32
  batch_norm: bool = False

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    if self.num_classes:
      z = concat_label(z, labels, self.num_classes)
    x = MLP(math.prod(self.data_shape), self.width, self.depth, self.dtype,
            self.batch_norm)(z, train)
    return x.reshape((z.shape[0], *self.data_shape))


class MLPDiscriminator(nn.Module):
  """Maps samples (B, ...) [and labels] to one logit per example, shape (B,).

  The hidden layers are the same as ``MLP``'s (or, with ``maxout`` = k > 1, maxout units:
  the largest of k linear pieces, Goodfellow et al. 2013); the output layer is the shared
  ``DiscriminatorHead`` (labels, auxiliary classifier, minibatch discrimination).
  """

  width: int = 512
  depth: int = 3
  num_classes: int = 0
  conditioning: str = "none"
  aux_classifier: bool = False
  minibatch_kernels: int = 0
  dtype: Any = jnp.float32
  maxout: int = 1
  spectral_norm: bool = False  # Every layer spectrally normalized (jaxgan.nets.spectral_norm).

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True,
               with_aux: bool = False):
    x = x.reshape((x.shape[0], -1))
    if self.conditioning == "concat":
      x = concat_label(x, labels, self.num_classes)
    dense = lambda n: normalized(nn.Dense(n, kernel_init=_he_uniform, dtype=self.dtype),
                                 self.spectral_norm, train)
    for _ in range(self.depth):
      if self.maxout > 1:
        pieces = dense(self.width * self.maxout)(x)
        x = jnp.max(pieces.reshape(*pieces.shape[:-1], self.width, self.maxout), axis=-1)
      else:
        x = nn.relu(dense(self.width)(x))
    head = DiscriminatorHead(self.num_classes, self.conditioning, self.aux_classifier,
                             self.minibatch_kernels, self.dtype, self.spectral_norm)
    logits, aux = head(x, labels, train)
    return (logits, aux) if with_aux else logits
