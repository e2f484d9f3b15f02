"""Mode coverage on the 2-D grid and ring: GAN, PacGAN2, WGAN-GP, WGAN-GP + packing.

PacGAN's synthetic experiment (Lin et al. 2018, sec. 5.1, Table 1) under VEEGAN's
protocol (Srivastava et al. 2017, sec. 5.1): modes captured, high-quality samples and
reverse KL over 10 seeds per method, each method's seeds trained at once by the sweep
program. Stages: ``measure`` (training and scores; each cell cached in ``out/runs`` so
a long measurement can be resumed), ``figures`` and ``report``.
"""

from __future__ import annotations

import sys

from jaxgan.experiments import common
from jaxgan.experiments.mode_coverage.measure import (  # noqa: F401 (the public names)
    DATASETS, methods, scores, summarize, train_sweep)


def run(out_dir, quick: bool = False, seeds: int | None = None, steps: int | None = None,
        width: int | None = None) -> dict:
  """Measures every (data set, method) cell; writes report.md and mode_coverage.png."""
  return common.run_stages(sys.modules[__name__], out_dir, quick, seeds=seeds, steps=steps,
                           width=width)
