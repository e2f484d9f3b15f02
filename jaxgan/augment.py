"""Differentiable augmentation (DiffAugment; Zhao et al. 2020, "Differentiable Augmentation
for Data-Efficient GAN Training"), as pure functions of images and a key.

D sees augmented real and generated images in both players' costs, and the transforms
are differentiable in the images, so G's gradient flows through them. Each transform is
a deterministic function of the images and its per-example parameters; ``augment`` draws
the parameters from a key, so the same key gives the same augmentation (to real and to
generated images alike). Images are (B, H, W, C) in [-1, 1]; the policies and
magnitudes are the paper's:

- 'color': brightness x + (u - 0.5); saturation (x - mean_c) * 2u + mean_c; contrast
  (x - mean_hwc) * (u + 0.5) + mean_hwc; u ~ U[0, 1) per example and transform;
- 'translation': a shift of each example by integers in [-s, s] rows and columns,
  s = round(H / 8), filling with zeros;
- 'cutout': a square of side round(H / 2) set to zero, its centre uniform over the image
  (clipped at the borders).
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

Array = jax.Array
POLICIES = ("color", "translation", "cutout")


def brightness(x: Array, shift: Array) -> Array:
  """x + shift, one shift (B,) per example."""
  return x + shift[:, None, None, None]


def saturation(x: Array, factor: Array) -> Array:
  """Each pixel's deviation from its channel mean scaled by ``factor`` (B,)."""
  mean = jnp.mean(x, axis=-1, keepdims=True)
  return (x - mean) * factor[:, None, None, None] + mean


def contrast(x: Array, factor: Array) -> Array:
  """Each example's deviation from its mean over pixels and channels scaled by ``factor``."""
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  return (x - mean) * factor[:, None, None, None] + mean


def translate(x: Array, rows: Array, cols: Array) -> Array:
  """Shifts example b down by rows[b] and right by cols[b] pixels; uncovered pixels are 0."""
  h, w = x.shape[1:3]
  src_r = jnp.arange(h)[None, :] - rows[:, None]  # (B, H): the source row of each row.
  src_c = jnp.arange(w)[None, :] - cols[:, None]
  valid = (((src_r >= 0) & (src_r < h))[:, :, None] & ((src_c >= 0) & (src_c < w))[:, None, :])
  gathered = jax.vmap(lambda img, r, c: img[jnp.clip(r, 0, h - 1)][:, jnp.clip(c, 0, w - 1)])(
      x, src_r, src_c)
  return jnp.where(valid[..., None], gathered, 0.0)


def cutout(x: Array, rows: Array, cols: Array, size: int) -> Array:
  """Zeroes the ``size`` x ``size`` square of example b whose centre is (rows[b], cols[b])
  (its first row and column ``centre - size // 2``), clipped at the borders."""
  h, w = x.shape[1:3]
  r0, c0 = rows - size // 2, cols - size // 2
  in_r = (jnp.arange(h)[None] >= r0[:, None]) & (jnp.arange(h)[None] < (r0 + size)[:, None])
  in_c = (jnp.arange(w)[None] >= c0[:, None]) & (jnp.arange(w)[None] < (c0 + size)[:, None])
  return jnp.where((in_r[:, :, None] & in_c[:, None, :])[..., None], 0.0, x)


def _color(x: Array, key: Array) -> Array:
  k1, k2, k3 = jax.random.split(key, 3)
  n = x.shape[0]
  x = brightness(x, jax.random.uniform(k1, (n,)) - 0.5)
  x = saturation(x, 2.0 * jax.random.uniform(k2, (n,)))
  return contrast(x, jax.random.uniform(k3, (n,)) + 0.5)


def _translation(x: Array, key: Array) -> Array:
  s = int(x.shape[1] * 0.125 + 0.5)
  k1, k2 = jax.random.split(key)
  shift = lambda k: jax.random.randint(k, (x.shape[0],), -s, s + 1)
  return translate(x, shift(k1), shift(k2))


def _cutout(x: Array, key: Array) -> Array:
  size = int(x.shape[1] * 0.5 + 0.5)
  k1, k2 = jax.random.split(key)
  h, w = x.shape[1:3]
  return cutout(x, jax.random.randint(k1, (x.shape[0],), 0, h + 1 - size % 2),
                jax.random.randint(k2, (x.shape[0],), 0, w + 1 - size % 2), size)


_TRANSFORMS = {"color": _color, "translation": _translation, "cutout": _cutout}


def augment(x: Array, key: Array, policy: Sequence[str] = POLICIES) -> Array:
  """The policy's transforms in order, each with its own key split from ``key``."""
  for name, k in zip(policy, jax.random.split(key, len(policy))):
    x = _TRANSFORMS[name](x, k)
  return x


def make_augment(policy: str | Sequence[str]) -> Callable[[Array, Array], Array] | None:
  """``augment(x, key)`` for a policy such as 'color,translation,cutout'; '' gives None."""
  names = [p.strip() for p in policy.split(",")] if isinstance(policy, str) else list(policy)
  names = [n for n in names if n]
  unknown = [n for n in names if n not in _TRANSFORMS]
  if unknown:
    raise ValueError(f"unknown DiffAugment policy {', '.join(unknown)}; known: "
                     f"{', '.join(POLICIES)}")
  return (lambda x, key: augment(x, key, names)) if names else None
