"""The numbers of the train step, kept as arrays so that jit traces them and vmap batches them.

What the step computes is split in two. Its structure (which game, which penalty,
``n_critic``, the schedule; whether EMA, AC-GAN or feature matching are on) is static:
it lives in ``train_step.StepConfig`` and changing it compiles a new program. Its
numbers live here, in ``HParams``, a leaf of the train state: they are checkpointed with
it, a new value does not recompile, and a stacked ``HParams`` trains several variants at
once under ``jax.vmap`` (the players' learning rates and Adam betas are the same kind of
number, kept by ``optax.inject_hyperparams`` in each player's optimizer state; see
``GANState.hyperparameters``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

Array = jax.Array


@struct.dataclass
class HParams:
  """Numeric hyperparameters of the step (float32 scalars, or stacked along a leading axis).

  Attributes:
    penalty_weight: lambda, the weight of the penalty in D's cost (used when the step has
      a penalty).
    real_label_smoothing: alpha, one-sided label smoothing: D's target on real data is
      ``1 - alpha`` (cross-entropy games).
    fake_label: beta, D's target on generated data (0 normally; > 0 is the harmful
      two-sided smoothing of the tutorial, sec. 4.2).
    weight_clip: c, the bound of WGAN's weight clipping (used when the step clips).
    ema_decay: decay of the moving average of G's parameters (used when the state keeps one).
    aux_weight_d: AC-GAN weight of D's class cross-entropy (used when AC-GAN is on).
    aux_weight_g: AC-GAN weight of G's class cross-entropy on its samples.
  """

  penalty_weight: Array = 0.0
  real_label_smoothing: Array = 0.0
  fake_label: Array = 0.0
  weight_clip: Array = 0.0
  ema_decay: Array = 0.0
  aux_weight_d: Array = 0.0
  aux_weight_g: Array = 0.0


NAMES = tuple(f.name for f in dataclasses.fields(HParams))


def make_hparams(**values) -> HParams:
  """An ``HParams`` of float32 arrays; unnamed fields are 0.

  Raises:
    TypeError: for a name that is not a field of ``HParams``.
  """
  unknown = sorted(set(values) - set(NAMES))
  if unknown:
    raise TypeError(f"make_hparams: unknown hyperparameter(s) {', '.join(unknown)}; "
                    f"known: {', '.join(NAMES)}")
  return HParams(**{name: jnp.asarray(values.get(name, 0.0), jnp.float32) for name in NAMES})
