"""Flax modules for the two players, and a factory that builds them by name.

The library's generators are called as ``G(z, labels=None, train=True)`` and its
discriminators as ``D(x, labels=None, train=True, with_aux=False)``, returning logits
(B,) or, with ``with_aux``, ``(logits, aux)`` where aux holds 'features' and maybe
'class_logits': every optional argument of ``jaxgan.player``'s protocol. Any other Flax
module can play too.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.nets.conditioning import D_CONDITIONING
from jaxgan.nets.dcgan import G_NORMS, NORMS, DCGANDiscriminator, DCGANGenerator
from jaxgan.nets.mlp import MLPDiscriminator, MLPGenerator

NETS = ("mlp", "pacgan_mlp", "dcgan")
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
    spectral_norm: bool = False,
) -> tuple[nn.Module, nn.Module]:
  """The library's (generator, discriminator) pair for data of shape ``data_shape``.

  Args:
    name: 'mlp' (uses ``width`` and ``depth``), 'pacgan_mlp' (PacGAN's synthetic nets: G
      4 x 400 ReLU with batch norm, D 3 x 200 maxout with 5 pieces) or 'dcgan' (uses
      ``features``, ``g_norm``,
      ``d_norm`` and ``ref_size``; square images (H, W, C) with H in {28, 32, 64}).
    data_shape: shape of one example, without the batch axis.
    width, depth: the MLPs' hidden units per layer and hidden layers.
    features: DCGAN's base feature count.
    g_norm, d_norm: 'batch', 'layer' or 'none' ('reference' or 'virtual' batch norm for
      G, with a reference batch of ``ref_size``).
    num_classes: classes of the labels (needed by the three label options).
    conditional_g: G sees the label.
    d_conditioning: 'none', 'concat' or 'projection': how D's logit sees the label.
    aux_classifier: D also outputs class logits (AC-GAN).
    minibatch_kernels: > 0 adds minibatch discrimination to D.
    dtype: 'float32', or 'bfloat16' to compute in bfloat16 with float32 parameters.
    spectral_norm: every layer of D spectrally normalized (``jaxgan.nets.spectral_norm``).

  Returns:
    (generator, discriminator), Flax modules declaring every optional argument of
    ``jaxgan.player``'s protocol.
  """
  if dtype not in DTYPES:
    raise ValueError(f"make_models: dtype={dtype!r} is not one of: {', '.join(DTYPES)}")
  compute = jnp.dtype(dtype)
  if d_conditioning not in D_CONDITIONING:
    raise ValueError(f"make_models: d_conditioning={d_conditioning!r} is not one of: "
                     f"{', '.join(D_CONDITIONING)}")
  labelled = conditional_g or d_conditioning != "none" or aux_classifier
  if labelled and num_classes < 2:
    raise ValueError("make_models: class labels (conditional_g, d_conditioning, "
                     "aux_classifier) need num_classes >= 2, got num_classes="
                     f"{num_classes}")
  g_classes = num_classes if conditional_g else 0
  d_uses_labels = d_conditioning != "none" or aux_classifier  # Else D is given none.
  d_kwargs = dict(num_classes=num_classes if d_uses_labels else 0, conditioning=d_conditioning,
                  aux_classifier=aux_classifier, minibatch_kernels=minibatch_kernels,
                  dtype=compute, spectral_norm=spectral_norm)
  if name == "mlp":
    return (MLPGenerator(tuple(data_shape), width, depth, g_classes, compute),
            MLPDiscriminator(width, depth, **d_kwargs))
  if name == "pacgan_mlp":  # PacGAN's synthetic nets; width and depth are theirs.
    return (MLPGenerator(tuple(data_shape), 400, 4, g_classes, compute, batch_norm=True),
            MLPDiscriminator(200, 3, maxout=5, **d_kwargs))
  if name == "dcgan":
    if len(data_shape) != 3 or data_shape[0] != data_shape[1]:
      raise ValueError(f"make_models: 'dcgan' needs square images (H, W, C), got data_shape "
                       f"{tuple(data_shape)}")
    for field, norm, allowed in (("g_norm", g_norm, G_NORMS), ("d_norm", d_norm, NORMS)):
      if norm not in allowed:
        raise ValueError(f"make_models: {field}={norm!r} is not one of: {', '.join(allowed)}")
    size, _, channels = data_shape
    return (DCGANGenerator(size, channels, features, g_norm, g_classes, ref_size, compute),
            DCGANDiscriminator(size, features, d_norm, **d_kwargs))
  raise ValueError(f"make_models: name={name!r} is not one of: {', '.join(NETS)}")
