"""Minibatch discrimination (Salimans et al. 2016, sec. 3.2).

Features f(x_i) in R^A are projected by a tensor T in R^{A x B x C} to matrices
M_i in R^{B x C}; for each of the B kernels, c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_1)
and o(x_i)_b = sum_{j != i} c_b(x_i, x_j). The B closeness features are concatenated to
f(x_i), letting D see whether a minibatch lacks diversity (mode collapse). It couples
the examples of a batch, so it cannot be combined with per-example gradient penalties.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class MinibatchDiscrimination(nn.Module):
  num_kernels: int = 50   # B
  kernel_dim: int = 5     # C
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, f: jax.Array) -> jax.Array:
    t = self.param("T", nn.initializers.normal(0.05),
                   (f.shape[-1], self.num_kernels * self.kernel_dim))
    f = f.astype(self.dtype)
    m = (f @ t.astype(self.dtype)).reshape(f.shape[0], self.num_kernels, self.kernel_dim)
    l1 = jnp.sum(jnp.abs(m[:, None] - m[None, :]), axis=-1)  # (N, N, B)
    o = jnp.sum(jnp.exp(-l1), axis=1) - 1.0  # Drop j == i, whose closeness is exp(0) = 1.
    return jnp.concatenate([f, o], axis=-1)
