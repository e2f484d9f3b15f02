"""The three generator costs as functions of D(G(z)), and the variance of their gradients.

GAN tutorial (Goodfellow 2016), sec. 3.2.3 and fig. 16: with D = D(G(z)) = sigmoid(l),

    minimax             J = 1/2 E log(1 - D)          (eq. 9, only its G-dependent half)
    non-saturating      J = -1/2 E log D               (eq. 13)
    maximum likelihood  J = -1/2 E exp(sigmoid^-1(D))  (eq. 15)

The minimax cost is flat where D(G(z)) ~ 0, i.e. at the start of training when D
rejects the samples (saturation); the non-saturating cost is steep there. The
maximum-likelihood cost is flat on the left too and its gradient comes from the few
samples with D close to 1: "the variance of the estimate of its gradient is very high"
(fig. 16 caption). The costs are evaluated with the library's functions
(``losses.generator_minimax`` etc.) and differentiated with ``jax.grad``.

Variance measurement: data N(0, 1); generator x = mu + exp(log_s) z, z ~ N(0, 1), with
parameters theta = (mu, log_s) at (offset, 0); D fixed at the exact optimum for that
generator, logit l(x) = log p_data(x) - log p_g(x) (held constant while differentiating
with respect to theta, as in an alternating update). For each cost, the gradient with
respect to theta is estimated on K independent minibatches of B samples; reported are
tr Cov(g) (the total variance), |E g|^2 and their ratio (relative variance, which
removes the costs' different scales). A check of the library's maximum-likelihood cost:
its expected gradient equals 1/2 grad KL(p_data || p_g) (Goodfellow 2014, "On
distinguishability criteria"), which for these Gaussians is 1/2 (mu, -mu^2) at log_s = 0.
"""

from __future__ import annotations

import sys

from jaxgan.experiments import common
from jaxgan.experiments.generator_costs.measure import (  # noqa: F401
    COSTS, cost_of_d, minibatch_gradients)


def run(out_dir, quick: bool = False) -> dict:
  """Plots the costs and their derivatives; measures gradient variances. Writes report.md."""
  return common.run_stages(sys.modules[__name__], out_dir, quick)
