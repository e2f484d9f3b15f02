"""Regularisers of the discriminator: gradient penalties and weight clipping.

Every penalty takes ``critic``, a function from a batch of inputs to one output per
example, and differentiates it with ``jax.grad`` with respect to its input. The
per-example gradients come from the gradient of ``sum(critic(x))``, which is exact when
the critic treats examples independently (no batch normalisation; the WGAN-GP paper,
sec. 4, makes the same requirement).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

Array = jax.Array
Critic = Callable[[Array], Array]


def _safe_norm(sq: Array) -> Array:
  """sqrt(sq) whose gradient is 0, not NaN, at sq == 0 (the double-where trick)."""
  positive = sq > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def input_gradients(critic: Critic, x: Array) -> Array:
  """Gradient of each example's critic output with respect to that example.

  Low-precision critics (bfloat16/float16) are summed and differentiated in float32;
  float32 and float64 keep their own precision.
  """
  dtype = jnp.promote_types(x.dtype, jnp.float32)
  return jax.grad(lambda inputs: jnp.sum(critic(inputs).astype(dtype)))(x).astype(dtype)


def per_example_sq_norm(g: Array) -> Array:
  """Squared Euclidean norm over all non-batch axes."""
  return jnp.sum(jnp.square(g).reshape(g.shape[0], -1), axis=-1)


def interpolates(key: Array, real: Array, fake: Array) -> Array:
  """eps * real + (1 - eps) * fake with eps ~ U[0, 1], one eps per example."""
  eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
  return eps * real + (1.0 - eps) * fake


def gradient_norm_penalty(
    critic: Critic, x: Array, target: float = 1.0, one_sided: bool = False
) -> Array:
  """E_x (||grad_x critic(x)|| - target)^2 at the given points.

  With ``one_sided`` only norms above ``target`` are penalised: E max(0, ||g|| - t)^2
  (the WGAN-GP paper's appendix discusses this variant).
  """
  norm = _safe_norm(per_example_sq_norm(input_gradients(critic, x)))
  gap = norm - target
  if one_sided:
    gap = jax.nn.relu(gap)
  return jnp.mean(jnp.square(gap))


def gradient_penalty(
    critic: Critic,
    real: Array,
    fake: Array,
    key: Array,
    target: float = 1.0,
    one_sided: bool = False,
) -> Array:
  """WGAN-GP penalty (Gulrajani et al. 2017, alg. 1), without its weight lambda.

  E_{x^} (||grad critic(x^)||_2 - 1)^2 with x^ = eps x + (1 - eps) G(z), eps ~ U[0, 1].
  The generated samples should be passed with ``stop_gradient`` applied (the penalty
  regularises the critic only).
  """
  x_hat = interpolates(key, real, fake)
  return gradient_norm_penalty(critic, x_hat, target, one_sided)


def r1_penalty(critic: Critic, real: Array) -> Array:
  """R1 (Mescheder et al. 2018, eq. 9) without its weight: E_x ||grad critic(x)||^2.

  The paper's regulariser is gamma/2 times this, so set the weight to gamma/2.
  """
  return jnp.mean(per_example_sq_norm(input_gradients(critic, real)))


def r2_penalty(critic: Critic, fake: Array) -> Array:
  """R2 (Mescheder et al. 2018, eq. 10) without its weight: E_z ||grad critic(G(z))||^2."""
  return r1_penalty(critic, fake)


PENALTIES = ("none", "gradient_penalty", "r1", "r2")


def penalty(
    name: str, critic: Critic, real: Array, fake: Array, key: Array, one_sided: bool = False
) -> Array:
  """Dispatches on the penalty's name; 'none' gives 0."""
  if name == "none":
    return jnp.zeros((), real.dtype)
  if name == "gradient_penalty":
    return gradient_penalty(critic, real, fake, key, one_sided=one_sided)
  if name == "r1":
    return r1_penalty(critic, real)
  if name == "r2":
    return r2_penalty(critic, fake)
  raise ValueError(f"unknown penalty {name!r}; expected one of: {', '.join(PENALTIES)}")


def clip_weights(params, clip: float):
  """WGAN weight clipping (Arjovsky et al. 2017, alg. 1): project every parameter onto [-c, c].

  Applied to the critic's parameters after each of its updates.
  """
  return jax.tree.map(lambda p: jnp.clip(p, -clip, clip), params)
