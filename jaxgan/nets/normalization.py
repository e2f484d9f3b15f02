"""Reference and virtual batch normalisation (Salimans et al. 2016, sec. 3.5).

Both normalise with the statistics of a fixed *reference batch* instead of the current
minibatch, so that an example's output does not depend on the other examples it is
batched with. The caller prepends the reference batch to the input: rows
``[:ref_size]`` are the reference examples, the rest the examples to normalise. Through
a network the reference rows are normalised with their own statistics, so each layer
sees the reference batch's activations at that layer.

- Reference batch norm: every example uses the reference batch's mean and variance.
- Virtual batch norm: example x uses the statistics of the reference batch plus x itself,
  i.e. mean = (R mean_ref + mean_x) / (R + 1), and likewise for the second moment
  (per channel; over spatial positions too for feature maps).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class ReferenceNorm(nn.Module):
  """Normalises (R + B, ..., C) inputs per channel with reference (or virtual) statistics."""

  ref_size: int
  virtual: bool = False
  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    r = self.ref_size
    if x.shape[0] <= r:
      raise ValueError(f"input has {x.shape[0]} rows, but the first {r} are the reference "
                       "batch: prepend it to the examples")
    axes = tuple(range(x.ndim - 1))  # All but the channel axis.
    ref = x[:r]
    mean_ref = jnp.mean(ref, axis=axes)
    sq_ref = jnp.mean(jnp.square(ref), axis=axes)
    mean = jnp.broadcast_to(mean_ref, x.shape[:1] + mean_ref.shape)
    sq = jnp.broadcast_to(sq_ref, mean.shape)
    if self.virtual:  # Each example adds itself to the reference batch (ref rows: themselves).
      own_axes = tuple(range(1, x.ndim - 1))
      mean_x = jnp.mean(x, axis=own_axes) if own_axes else x
      sq_x = jnp.mean(jnp.square(x), axis=own_axes) if own_axes else jnp.square(x)
      w = 1.0 / (r + 1.0)
      mean = mean.at[r:].set(w * mean_x[r:] + (1 - w) * mean_ref)
      sq = sq.at[r:].set(w * sq_x[r:] + (1 - w) * sq_ref)
    var = jnp.maximum(sq - jnp.square(mean), 0.0)
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (x.shape[-1],)
    y = (x - mean.reshape(shape)) * jax.lax.rsqrt(var.reshape(shape) + self.epsilon)
    scale = self.param("scale", nn.initializers.ones, (x.shape[-1],))
    bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
    return y * scale + bias
