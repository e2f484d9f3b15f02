"""Weight clipping vs gradient penalty (Gulrajani et al. 2017, "Improved Training of
Wasserstein GANs", sec. 3 and fig. 1), with the settings of their ``gan_toy.py``.

Claims checked:
- fig. 1(a)/(toy figures): WGAN-GP critics model the data's structure; clipped critics
  are simpler functions;
- fig. 1(b): with weight clipping, the gradient of the critic with respect to
  successive layers' activations grows or decays exponentially with depth (a 12-layer
  ReLU critic without batch norm on Swiss Roll, c in {0.1, 0.01, 0.001}); with the
  gradient penalty it stays of the same order across depth;
- fig. 1(c): clipping pushes the weights to the two extremes +-c of the clipping range.
The mechanism is isolated without training too: a critic with every weight at +-c
scales the backpropagated gradient by about c sqrt(width / 2) per layer.

Training uses the library's step (``make_train_step``) on the library's toy sets:
WGAN: RMSProp 5e-5, clip c, 5 critic steps; WGAN-GP: Adam 1e-4, betas (0.5, 0.9), 5
critic steps, lambda 0.1 (gan_toy.py) or 10 (the paper); batch 256, 2-D noise, ReLU MLPs
(``nets.make_models('mlp')``). The per-layer gradients are those of the library's
critic with respect to the input of each of its Dense layers (``measure.layer_gradients``).
"""

from __future__ import annotations

import sys

from jaxgan.experiments import common
from jaxgan.experiments.wgan_gp_vs_clipping.measure import (  # noqa: F401
    DEPTH_METHODS, TOY_METHODS, layer_gradient_norms, layer_gradients, piled_critic_norms)


def run(out_dir, quick: bool = False, width: int | None = None, steps: int | None = None,
        depth_width: int | None = None) -> dict:
  """Toy runs (critic contours, weights) and the depth analysis; writes report.md + PNGs.

  ``width``/``steps``: the toy nets' hidden width (gan_toy.py: 512) and generator steps
  (gan_toy.py: 100,000); ``depth_width``: the width of the 12-layer nets.
  """
  return common.run_stages(sys.modules[__name__], out_dir, quick, width=width, steps=steps,
                           depth_width=depth_width)
