"""Optimizers for each player, built by name (separate ones allow the TTUR)."""

from __future__ import annotations

import optax

OPTIMIZERS = ("adam", "rmsprop", "sgd")


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
) -> optax.GradientTransformation:
  """Builds an optax optimizer.

  adam: (b1, b2, eps); the DCGAN paper uses lr 2e-4, b1 0.5; WGAN-GP uses b1 0, b2 0.9.
  rmsprop: (decay, eps); the WGAN paper uses lr 5e-5.
  sgd: (momentum).
  ``decay_steps`` > 0 decays the learning rate linearly to 0 over that many updates of
  this player (the WGAN-GP CIFAR-10 schedule).
  """
  if learning_rate < 0:
    raise ValueError(f"learning_rate must be >= 0, got {learning_rate}")
  lr = optax.linear_schedule(learning_rate, 0.0, decay_steps) if decay_steps > 0 else learning_rate
  if name == "adam":
    return optax.adam(lr, b1=b1, b2=b2, eps=eps)
  if name == "rmsprop":
    return optax.rmsprop(lr, decay=decay, eps=eps)
  if name == "sgd":
    return optax.sgd(lr, momentum=momentum or None)
  raise ValueError(f"unknown optimizer {name!r}; expected one of: {', '.join(OPTIMIZERS)}")
