"""PacGAN packing (Lin et al. 2018, "PacGAN: The power of two samples in generative
adversarial networks"): the discriminator judges m samples at once.

``pack(x, m)`` turns a batch (B, *shape) into B/m packed examples of m samples each,
concatenated along the last axis (the features of a vector, the channels of an image,
as in PacGAN's code). Real and generated samples are packed only with their own kind,
so D's task becomes telling m real samples from m generated ones, which penalises a
generator that drops modes (the packed distributions differ more than the single ones).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

Array = jax.Array


def packed_shape(shape: Sequence[int], m: int) -> tuple[int, ...]:
  """The shape of one packed example made of m examples of ``shape``."""
  shape = tuple(shape)
  return (*shape[:-1], m * shape[-1])


def pack(x: Array, m: int) -> Array:
  """(B, *shape) -> (B / m, *shape[:-1], m * shape[-1]); examples i*m .. i*m+m-1 together.

  Raises:
    ValueError: when B is not a multiple of m.
  """
  if m == 1:
    return x
  b, *shape = x.shape
  if b % m:
    raise ValueError(f"pack: a batch of {b} cannot be packed in groups of m={m}")
  grouped = x.reshape(b // m, m, *shape)
  return jnp.moveaxis(grouped, 1, -2).reshape(b // m, *packed_shape(shape, m))


def on_copies(d, x: Array) -> Array:
  """D's output for each example of ``x`` judged as a pack of m copies of itself (m read
  from D's input shape): how a packed critic is drawn over the data space."""
  m = d.interface.input_shape[-1] // x.shape[-1]
  return d(pack(jnp.repeat(x, m, axis=0), m))
