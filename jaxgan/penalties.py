"""Regularisers of the discriminator: gradient penalties, and weight clipping as a constraint.

A penalty is any function ``penalty(critic, real, fake, key) -> scalar``: ``critic`` maps
a batch of inputs to one output per example (D at its current parameters), ``real`` and
``fake`` are the minibatches of the critic step (``fake`` with ``stop_gradient``) and
``key`` is a PRNG key for the penalty's own randomness. The step adds ``penalty_weight``
(a traced hyperparameter) times its value to D's cost. ``PENALTIES`` holds the
ready-made ones by name. They differentiate the critic with ``jax.grad`` with respect
to its input; the per-example gradients come from the gradient of ``sum(critic(x))``,
which is exact when the critic treats examples independently (no batch normalisation;
the WGAN-GP paper, sec. 4, makes the same requirement).

A constraint is any function ``constraint(params, hparams) -> params`` applied to D's
parameters after each of its updates; ``CONSTRAINTS`` holds weight clipping, whose
bound is ``hparams.weight_clip``.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxgan.hparams import HParams

Array = jax.Array
Critic = Callable[[Array], Array]
Penalty = Callable[[Critic, Array, Array, Array], Array]
Constraint = Callable[[Any, HParams], Any]


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


def one_sided_gradient_penalty(critic: Critic, real: Array, fake: Array, key: Array) -> Array:
  """WGAN-GP's penalty on gradient norms above 1 only: E max(0, ||grad critic(x^)|| - 1)^2."""
  return gradient_penalty(critic, real, fake, key, one_sided=True)


def r1_penalty(critic: Critic, real: Array, fake: Array | None = None,
               key: Array | None = None) -> Array:
  """R1 (Mescheder et al. 2018, eq. 9) without its weight: E_x ||grad critic(x)||^2.

  The paper's regulariser is gamma/2 times this, so set the weight to gamma/2.
  ``fake`` and ``key`` are unused (the signature of every penalty).
  """
  del fake, key
  return jnp.mean(per_example_sq_norm(input_gradients(critic, real)))


def r2_penalty(critic: Critic, real: Array | None, fake: Array,
               key: Array | None = None) -> Array:
  """R2 (Mescheder et al. 2018, eq. 10) without its weight: E_z ||grad critic(G(z))||^2."""
  del real, key
  return r1_penalty(critic, fake)


PENALTIES: dict[str, Penalty] = {
    "gradient_penalty": gradient_penalty,
    "one_sided_gradient_penalty": one_sided_gradient_penalty,
    "r1": r1_penalty,
    "r2": r2_penalty,
}


def get_penalty(penalty: str | Penalty | None) -> Penalty | None:
  """A penalty function itself, or the registered one of that name ('none' and None: None)."""
  if penalty is None or callable(penalty):
    return penalty
  if penalty == "none":
    return None
  if penalty not in PENALTIES:
    raise ValueError(f"unknown penalty {penalty!r}; expected a function (critic, real, fake, "
                     f"key) -> scalar or one of: none, {', '.join(PENALTIES)}")
  return PENALTIES[penalty]


def clip_weights(params, clip: float | Array):
  """WGAN weight clipping (Arjovsky et al. 2017, alg. 1): project every parameter onto [-c, c]."""
  return jax.tree.map(lambda p: jnp.clip(p, -clip, clip), params)


def weight_clipping(params, hparams: HParams):
  """The weight-clipping constraint: ``clip_weights`` with the bound ``hparams.weight_clip``."""
  return clip_weights(params, hparams.weight_clip)


CONSTRAINTS: dict[str, Constraint] = {"weight_clipping": weight_clipping}
