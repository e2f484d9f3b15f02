"""Flax modules for the two players, and a factory that builds them by name."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn

from jaxgan.nets.dcgan import NORMS, DCGANDiscriminator, DCGANGenerator
from jaxgan.nets.mlp import MLPDiscriminator, MLPGenerator

NETS = ("mlp", "dcgan")


def make_models(
    name: str,
    data_shape: Sequence[int],
    *,
    width: int = 512,
    depth: int = 3,
    features: int = 64,
    g_norm: str = "batch",
    d_norm: str = "batch",
) -> tuple[nn.Module, nn.Module]:
  """Returns (generator, discriminator) for data of shape ``data_shape`` (no batch axis).

  'mlp' uses ``width`` and ``depth``; 'dcgan' uses ``features``, ``g_norm`` and
  ``d_norm`` and needs square images (H, W, C) with H in {28, 32, 64}.
  """
  if name == "mlp":
    return (MLPGenerator(tuple(data_shape), width, depth), MLPDiscriminator(width, depth))
  if name == "dcgan":
    if len(data_shape) != 3 or data_shape[0] != data_shape[1]:
      raise ValueError(f"model 'dcgan' needs square images (H, W, C), got data shape {data_shape}")
    for field, norm in (("g_norm", g_norm), ("d_norm", d_norm)):
      if norm not in NORMS:
        raise ValueError(f"config.model.{field}={norm!r} is not one of: {', '.join(NORMS)}")
    size, _, channels = data_shape
    return (DCGANGenerator(size, channels, features, g_norm),
            DCGANDiscriminator(size, features, d_norm))
  raise ValueError(f"config.model.name={name!r} is not one of: {', '.join(NETS)}")
