"""Multilayer perceptrons for low-dimensional data (the toy problems).

The WGAN-GP reference toy script (Gulrajani et al. 2017, ``gan_toy.py``) uses three
hidden ReLU layers of width 512 for both players; those are the defaults here.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax


class MLP(nn.Module):
  """``depth`` hidden ReLU layers of ``width`` units, then a linear layer of ``out_dim``."""

  out_dim: int
  width: int = 512
  depth: int = 3

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    del train  # No normalisation: the same function in training and evaluation.
    for _ in range(self.depth):
      x = nn.relu(nn.Dense(self.width)(x))
    return nn.Dense(self.out_dim)(x)


class MLPGenerator(nn.Module):
  """Maps latent codes ``z`` of shape (B, latent_dim) to samples of shape (B, *data_shape)."""

  data_shape: Sequence[int]
  width: int = 512
  depth: int = 3

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    size = 1
    for d in self.data_shape:
      size *= d
    x = MLP(size, self.width, self.depth)(z, train)
    return x.reshape((z.shape[0], *self.data_shape))


class MLPDiscriminator(nn.Module):
  """Maps samples of shape (B, ...) to one logit (or critic value) per example, shape (B,)."""

  width: int = 512
  depth: int = 3

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    x = x.reshape((x.shape[0], -1))
    return MLP(1, self.width, self.depth)(x, train)[:, 0]
