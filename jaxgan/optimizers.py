"""Optimizers for each player, built by name (separate ones allow the TTUR).

Every optimizer is wrapped in ``optax.inject_hyperparams``: its learning rate and
coefficients are arrays in the optimizer state (``opt_state.hyperparams``), so a new
value does not recompile and ``jax.vmap`` can train with several at once.
"""

from __future__ import annotations

import math

import optax

OPTIMIZERS = ("adam", "rmsprop", "sgd")


def _linear_decay(decay_steps: int, updates_per_step: int = 1) -> optax.Schedule:
  """1 at training step 0 falling linearly to 0 at step ``decay_steps`` (and 0 after).

  The schedule is called with the player's own update count; a player updated
  ``updates_per_step`` times per training step (D, ``n_critic`` times) is at step
  ``count // updates_per_step``.
  """
  linear = optax.linear_schedule(1.0, 0.0, decay_steps)
  if updates_per_step == 1:
    return linear
  return lambda count: linear(count // updates_per_step)


def make_optimizer(
    name: str,
    learning_rate: float,
    *,
    b1: float = 0.5,
    b2: float = 0.999,
    eps: float = 1e-8,
    decay: float = 0.9,
    momentum: float = 0.0,
    decay_steps: int = 0,
    updates_per_step: int = 1,
) -> optax.GradientTransformation:
  """Builds an optax optimizer whose numbers live in its state.

  Args:
    name: 'adam' (uses b1, b2, eps; the DCGAN paper uses lr 2e-4, b1 0.5; WGAN-GP uses
      b1 0, b2 0.9), 'rmsprop' (decay, eps; the WGAN paper uses lr 5e-5) or 'sgd'
      (momentum).
    learning_rate: the (initial) learning rate, >= 0.
    b1, b2, eps, decay, momentum: the coefficients of the named optimizer.
    decay_steps: > 0 scales the updates by a factor falling linearly from 1 to 0 over
      that many training steps (generator updates), for both players as in the WGAN-GP
      CIFAR-10 reference (gan_cifar.py); the learning rate in the state stays the
      initial one.
    updates_per_step: how many times this player is updated per training step (D:
      ``n_critic``), so that its decay counts training steps, not its own updates.

  Returns:
    The optimizer; ``opt_state.hyperparams`` holds 'learning_rate' and the coefficients.
  """
  if name not in OPTIMIZERS:
    raise ValueError(f"unknown optimizer {name!r}; expected one of: {', '.join(OPTIMIZERS)}")
  if not (math.isfinite(learning_rate) and learning_rate >= 0):
    raise ValueError(f"learning_rate must be finite and >= 0, got {learning_rate}")
  if not (isinstance(updates_per_step, int) and updates_per_step >= 1):
    raise ValueError(f"updates_per_step must be an integer >= 1, got {updates_per_step!r}")
  then = ((optax.scale_by_schedule(_linear_decay(decay_steps, updates_per_step)),)
          if decay_steps > 0 else ())
  # inject_hyperparams reads each factory's signature: the arguments are spelled out.
  if name == "adam":
    build = lambda learning_rate, b1, b2, eps: optax.chain(
        optax.adam(learning_rate, b1=b1, b2=b2, eps=eps), *then)
    numbers = dict(b1=b1, b2=b2, eps=eps)
  elif name == "rmsprop":
    build = lambda learning_rate, decay, eps: optax.chain(
        optax.rmsprop(learning_rate, decay=decay, eps=eps), *then)
    numbers = dict(decay=decay, eps=eps)
  else:
    build = lambda learning_rate, momentum: optax.chain(
        optax.sgd(learning_rate, momentum=momentum), *then)
    numbers = dict(momentum=momentum)
  return optax.inject_hyperparams(build)(learning_rate=learning_rate, **numbers)
