"""The optimal discriminator and label smoothing (GAN tutorial sec. 3.2.1 and 4.2).

For fixed densities, the discriminator minimising J(D) (``losses.discriminator_cross_entropy``)
is, pointwise (Goodfellow 2016, eq. 10; with smoothing, sec. 4.2):

    D*(x) = ((1 - alpha) p_data(x) + beta p_model(x)) / (p_data(x) + p_model(x)),

which for alpha = beta = 0 is p_data / (p_data + p_model). One-sided smoothing (real
target 1 - alpha) caps D at 1 - alpha on the data; a fake target beta > 0 makes D equal
beta where p_data is ~0 but p_model is large, which is the spurious reward the tutorial
warns about.

Setup: p_data is the library's 'mog1d' mixture (0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2));
p_model is a fixed Gaussian N(0, 1.5^2) (no generator is trained). D is the library's
MLP discriminator on 1-D inputs, trained with Adam on fresh samples of both
densities at every step, and compared with D* on a grid.
"""

from __future__ import annotations

import sys

from jaxgan.experiments import common
from jaxgan.experiments.optimal_discriminator.measure import (  # noqa: F401
    CASES, log_p_model, optimal_d)


def run(out_dir, quick: bool = False) -> dict:
  """Trains D for each (alpha, beta) case; writes report.md and optimal_discriminator.png."""
  return common.run_stages(sys.modules[__name__], out_dir, quick)
