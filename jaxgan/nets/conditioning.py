"""Class labels in the players (GAN tutorial sec. 4.1) and the discriminator's output head.

- Generator: the one-hot label is concatenated to z (Mirza & Osindero 2014).
- Discriminator, ``conditioning``:
  'concat'      one-hot label maps concatenated to the input (Mirza & Osindero 2014);
  'projection'  logit += <embed(y), phi(x)> (Miyato & Koyama 2018, eq. 3);
  'none'        the logit ignores the label.
- ``aux_classifier``: D also outputs class logits (AC-GAN, Odena et al. 2017); with an
  unconditional G this is the variant in which only D sees labels.
- ``minibatch_kernels`` > 0 inserts minibatch discrimination before the output layer.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.nets.minibatch_discrimination import MinibatchDiscrimination
from jaxgan.nets.spectral_norm import normalized

D_CONDITIONING = ("none", "concat", "projection")


def concat_label(x: jax.Array, labels: jax.Array | None, num_classes: int) -> jax.Array:
  """Appends one-hot labels to the last axis of x, broadcast over any spatial axes."""
  if labels is None:
    raise ValueError("this model is class-conditional: pass labels")
  y = jax.nn.one_hot(labels, num_classes, dtype=x.dtype)
  y = y.reshape(y.shape[:1] + (1,) * (x.ndim - 2) + y.shape[1:])
  return jnp.concatenate([x, jnp.broadcast_to(y, x.shape[:-1] + (num_classes,))], axis=-1)


class DiscriminatorHead(nn.Module):
  """features (B, F) -> (logits (B,), aux) with aux['features'] and maybe 'class_logits'."""

  num_classes: int = 0
  conditioning: str = "none"
  aux_classifier: bool = False
  minibatch_kernels: int = 0
  dtype: Any = jnp.float32  # Computation dtype; parameters stay float32.
  spectral_norm: bool = False  # The output layer spectrally normalized (with the rest of D).

  @nn.compact
  def __call__(self, features: jax.Array, labels: jax.Array | None, train: bool = True):
    h = features
    if self.minibatch_kernels:
      h = MinibatchDiscrimination(self.minibatch_kernels, dtype=self.dtype)(h)
    out = nn.Dense(1, kernel_init=nn.initializers.normal(0.02), dtype=self.dtype)
    logits = normalized(out, self.spectral_norm, train)(h)[:, 0]
    if self.conditioning == "projection":
      if labels is None:
        raise ValueError("a projection discriminator needs labels")
      embed = nn.Embed(self.num_classes, features.shape[-1], dtype=self.dtype,
                       embedding_init=nn.initializers.normal(0.02))(labels)
      logits = logits + jnp.sum(embed * features, axis=-1)
    aux = {"features": features}
    if self.aux_classifier:
      aux["class_logits"] = nn.Dense(self.num_classes, dtype=self.dtype)(h)
    return logits, aux
