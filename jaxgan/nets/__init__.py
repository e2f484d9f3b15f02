"""Flax modules for the two players, and a factory that builds them by name.

Every generator is called as ``G(z, labels=None, train=True)`` and every discriminator
as ``D(x, labels=None, train=True, with_aux=False)``, returning logits (B,) or, with
``with_aux``, ``(logits, aux)`` where aux holds 'features' and maybe 'class_logits'.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.nets.conditioning import D_CONDITIONING
from jaxgan.nets.dcgan import G_NORMS, NORMS, DCGANDiscriminator, DCGANGenerator
from jaxgan.nets.mlp import MLPDiscriminator, MLPGenerator

NETS = ("mlp", "dcgan")
DTYPES = ("float32", "bfloat16")


def make_models(
    name: str,
    data_shape: Sequence[int],
    *,
    width: int = 512,
    depth: int = 3,
    features: int = 64,
    g_norm: str = "batch",
    d_norm: str = "batch",
    num_classes: int = 0,
    conditional_g: bool = False,
    d_conditioning: str = "none",
    aux_classifier: bool = False,
    minibatch_kernels: int = 0,
    ref_size: int = 64,
    dtype: str = "float32",
) -> tuple[nn.Module, nn.Module]:
  """Returns (generator, discriminator) for data of shape ``data_shape`` (no batch axis).

  'mlp' uses ``width`` and ``depth``; 'dcgan' uses ``features``, ``g_norm``, ``d_norm``
  and ``ref_size`` and needs square images (H, W, C) with H in {28, 32, 64}. Labels:
  ``num_classes`` classes, ``conditional_g`` (G sees the label), ``d_conditioning``
  (none | concat | projection), ``aux_classifier`` (AC-GAN head);
  ``minibatch_kernels`` > 0 adds minibatch discrimination to D. ``dtype`` 'bfloat16'
  computes in bfloat16 with float32 parameters (mixed precision).
  """
  if dtype not in DTYPES:
    raise ValueError(f"config.model.dtype={dtype!r} is not one of: {', '.join(DTYPES)}")
  compute = jnp.dtype(dtype)
  if d_conditioning not in D_CONDITIONING:
    raise ValueError(f"config.model.d_conditioning={d_conditioning!r} is not one of: "
                     f"{', '.join(D_CONDITIONING)}")
  labelled = conditional_g or d_conditioning != "none" or aux_classifier
  if labelled and num_classes < 2:
    raise ValueError("class labels (conditional_g, d_conditioning, aux_classifier) need a "
                     f"labelled dataset with >= 2 classes, got num_classes={num_classes}")
  g_classes = num_classes if conditional_g else 0
  d_kwargs = dict(num_classes=num_classes, conditioning=d_conditioning,
                  aux_classifier=aux_classifier, minibatch_kernels=minibatch_kernels,
                  dtype=compute)
  if name == "mlp":
    return (MLPGenerator(tuple(data_shape), width, depth, g_classes, compute),
            MLPDiscriminator(width, depth, **d_kwargs))
  if name == "dcgan":
    if len(data_shape) != 3 or data_shape[0] != data_shape[1]:
      raise ValueError(f"model 'dcgan' needs square images (H, W, C), got data shape {data_shape}")
    for field, norm, allowed in (("g_norm", g_norm, G_NORMS), ("d_norm", d_norm, NORMS)):
      if norm not in allowed:
        raise ValueError(f"config.model.{field}={norm!r} is not one of: {', '.join(allowed)}")
    size, _, channels = data_shape
    return (DCGANGenerator(size, channels, features, g_norm, g_classes, ref_size, compute),
            DCGANDiscriminator(size, features, d_norm, **d_kwargs))
  raise ValueError(f"config.model.name={name!r} is not one of: {', '.join(NETS)}")
