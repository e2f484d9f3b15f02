"""Fitting one Gaussian to two modes: KL(p || q) vs KL(q || p) (GAN tutorial fig. 14).

Goodfellow 2016, sec. 3.2.5: minimising KL(p_data || q) (maximum likelihood) makes q
cover all of p's mass, so a single Gaussian is placed between the modes and made
broad (moment matching); minimising KL(q || p_data) makes q avoid places where p is
small, so it locks onto one mode (mode seeking).

Setup: p = the library's 'mog1d' mixture, 0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2);
q = N(m, exp(log_s)^2). Both divergences are minimised with Adam (optax) on Monte
Carlo estimates: KL(p || q) = E_p[log p - log q] with samples of p (``toy.sample``);
KL(q || p) = E_q[log q - log p] with the reparameterisation x = m + exp(log_s) eps.
The fitted parameters are then scored exactly, by quadrature (trapezoid rule on a
fine grid). Theory: the minimiser of KL(p || q) over Gaussians matches p's moments,
m = 0, s = sqrt(0.5^2 + 2^2) = 2.062; KL(q || p) has a local minimum at each mode,
m ~ +-2, s ~ 0.5, where its value is ~ log 2 (q is one half of p).
"""

from __future__ import annotations

import sys

from jaxgan.experiments import common
from jaxgan.experiments.divergences.measure import fit, kl_quadrature, log_q  # noqa: F401


def run(out_dir, quick: bool = False) -> dict:
  """Fits q both ways from several starts; writes report.md and divergences.png."""
  return common.run_stages(sys.modules[__name__], out_dir, quick)
