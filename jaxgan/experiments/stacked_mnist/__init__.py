"""Stacked MNIST: 1,000 modes (Metz et al. 2017; VEEGAN; PacGAN sec. 5.2, Table 2).

Every example stacks three MNIST digits, drawn independently and uniformly, as the R, G
and B channels of a 28 x 28 image, so the data have 10^3 = 1,000 modes. A generator is
scored on 26,000 samples: a pretrained classifier labels each channel; "modes" is the
number of distinct triples, "KL" is KL(p_gen || uniform) over the triples (PacGAN's
code). Needs MNIST as an .npz (``--mnist PATH``); ``quick`` uses generated 10-class
images instead. Stages: ``classifier`` (cached as ``out/classifier.*``), ``measure``
(each method cached in ``out/runs``), ``figures``, ``report``.
"""

from __future__ import annotations

import sys

from jaxgan.experiments import common
from jaxgan.experiments.stacked_mnist.classifier import (  # noqa: F401
    DigitClassifier, classify, synthetic_digits, train_classifier)
from jaxgan.experiments.stacked_mnist.measure import (  # noqa: F401
    draw_stacked, methods, mode_statistics, to_uint8_channels)


def run(out_dir, quick: bool = False, mnist: str | None = None, steps: int | None = None,
        seeds: int | None = None, features: int | None = None, n_eval: int | None = None,
        only: str | None = None) -> dict:
  """The classifier, then each method on stacked digits; writes report.md and PNGs."""
  return common.run_stages(sys.modules[__name__], out_dir, quick, mnist=mnist, steps=steps,
                           seeds=seeds, features=features, n_eval=n_eval, only=only)
