"""Spectral normalization of a discriminator's layers (Miyato et al. 2018, "Spectral
Normalization for Generative Adversarial Networks").

Each weight W is used as W / sigma(W), sigma its largest singular value, estimated by
power iteration with a vector u kept between calls (Flax's ``nn.SpectralNorm``: u and
sigma live in the 'batch_stats' collection, so they are part of the train state and its
checkpoints). In training mode every call of D runs one iteration and stores the new u:
D's update calls D on the real and on the generated minibatch, so u advances by two
iterations per update (the paper's algorithm runs one per update; u converges either way,
and sigma moves little between updates). Convolution kernels are normalized as their
(k*k*C_in, C_out) matrix, as in the paper's code.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax


def normalized(layer: nn.Module, enabled: bool, train: bool) -> Callable[[jax.Array], jax.Array]:
  """``layer``, spectrally normalized when ``enabled`` (call inside a compact method)."""
  if not enabled:
    return layer
  wrapped = nn.SpectralNorm(layer)
  return lambda x: wrapped(x, update_stats=train)
