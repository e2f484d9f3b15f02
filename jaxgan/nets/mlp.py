"""Multilayer perceptrons for low-dimensional data (the toy problems).

The WGAN-GP reference toy script (Gulrajani et al. 2017, ``gan_toy.py``) uses three
hidden ReLU layers of width 512 for both players; those are the defaults here.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.nets.conditioning import DiscriminatorHead, concat_label

# He initialisation, as the reference gan_toy.py uses (uniform with variance 2 / fan_in).
_he_uniform = nn.initializers.variance_scaling(2.0, "fan_in", "uniform")


class MLP(nn.Module):
  """``depth`` hidden ReLU layers of ``width`` units, then a linear layer of ``out_dim``."""

  out_dim: int
  width: int = 512
  depth: int = 3
  dtype: Any = jnp.float32  # Computation dtype; parameters stay float32.

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    del train  # No normalisation: the same function in training and evaluation.
    for _ in range(self.depth):
      x = nn.relu(nn.Dense(self.width, kernel_init=_he_uniform, dtype=self.dtype)(x))
    return nn.Dense(self.out_dim, kernel_init=_he_uniform, dtype=self.dtype)(x)


class MLPGenerator(nn.Module):
  """Maps z (B, latent_dim) [and labels] to samples of shape (B, *data_shape)."""

  data_shape: Sequence[int]
  width: int = 512
  depth: int = 3
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    if self.num_classes:
      z = concat_label(z, labels, self.num_classes)
    x = MLP(math.prod(self.data_shape), self.width, self.depth, self.dtype)(z, train)
    return x.reshape((z.shape[0], *self.data_shape))


class MLPDiscriminator(nn.Module):
  """Maps samples (B, ...) [and labels] to one logit per example, shape (B,).

  The hidden layers are the same as ``MLP``'s; the output layer is the shared
  ``DiscriminatorHead`` (labels, auxiliary classifier, minibatch discrimination).
  """

  width: int = 512
  depth: int = 3
  num_classes: int = 0
  conditioning: str = "none"
  aux_classifier: bool = False
  minibatch_kernels: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True,
               with_aux: bool = False):
    x = x.reshape((x.shape[0], -1))
    if self.conditioning == "concat":
      x = concat_label(x, labels, self.num_classes)
    for _ in range(self.depth):
      x = nn.relu(nn.Dense(self.width, kernel_init=_he_uniform, dtype=self.dtype)(x))
    head = DiscriminatorHead(self.num_classes, self.conditioning, self.aux_classifier,
                             self.minibatch_kernels, self.dtype)
    logits, aux = head(x, labels)
    return (logits, aux) if with_aux else logits
