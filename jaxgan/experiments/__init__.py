"""The GAN tutorial's and the WGAN-GP paper's claims, reproduced as experiments.

Run one with ``python -m jaxgan.experiments NAME --out DIR [--quick]``. Each experiment
is a package of three stages: ``measure`` (the numbers), ``figures`` (PNG) and
``report`` (``report.md``, its prose a template filled from the numbers); the package
exposes ``run(out_dir, quick=False, ...) -> dict`` of the measured numbers, which runs
them in turn (``common.run_stages``). ``quick`` runs CI-sized versions whose numbers
check only the direction of each effect.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# name -> one-line description; the module jaxgan.experiments.<name> holds run().
EXPERIMENTS: dict[str, str] = {
    "optimal_discriminator": "D trained on known 1-D densities vs D* = p_data/(p_data+p_model), "
                             "with one-sided (alpha) and fake-target (beta) smoothing",
    "generator_costs": "minimax / non-saturating / maximum-likelihood costs vs D(G(z)), their "
                       "derivatives and gradient variances (tutorial fig. 16)",
    "divergences": "one Gaussian fitted to two modes by KL(p||q) vs KL(q||p) (tutorial fig. 14)",
    "wgan_gp_vs_clipping": "WGAN clipping vs WGAN-GP on gan_toy.py's sets: critics, per-layer "
                           "gradient norms vs depth, weights (WGAN-GP fig. 1)",
    "mode_coverage": "modes, high-quality samples and reverse KL on the 2-D grid and ring, "
                     "GAN / PacGAN2 / WGAN-GP (+ packing), 10 seeds each (PacGAN table 1)",
    "stacked_mnist": "needs --mnist: modes and KL on stacked MNIST (1000 modes), DCGAN / "
                     "PacDCGAN2 / WGAN-GP / SN + hinge (PacGAN table 2)",
}


def get_experiment(name: str) -> ModuleType:
  """The module of an experiment, with an error that lists the known names."""
  if name not in EXPERIMENTS:
    raise ValueError(f"unknown experiment {name!r}; expected one of: {', '.join(EXPERIMENTS)}")
  return importlib.import_module(f"jaxgan.experiments.{name}")
