"""Generator costs, the report."""

from __future__ import annotations

import pathlib

import numpy as np

from jaxgan.experiments import common
from jaxgan.experiments.generator_costs.measure import COSTS

TEMPLATE = """\
Claims (Goodfellow 2016, sec. 3.2.3, fig. 16): the minimax cost saturates where D(G(z))
is small, the non-saturating cost does not; the maximum-likelihood cost's gradient comes
from the samples with D(G(z)) near 1, so the variance of its estimate is very high.

## Costs and derivatives
The three curves are the library's `generator_minimax`, `generator_non_saturating` and
`generator_maximum_likelihood` evaluated at logit = sigmoid^-1(D) (with their 1/2
factors); the derivatives are `jax.grad` of the same.

$slopes

## Gradient variance
Data N(0, 1); generator N(offset, 1) parameterised by (mu, log_s); D = exact optimal
discriminator for that generator, held fixed. Gradients w.r.t. (mu, log_s) of each cost
on $n_batches independent minibatches of $batch samples.

$variance

The maximum-likelihood row's mean gradient should equal the exact 1/2 grad
KL(p_data || p_g) row (a check of the library's cost).

![costs]($figure)

Left: J(G) vs D(G(z)). Middle: |dJ/dD| (log scale). Right: relative variance of the
minibatch gradient vs the generator's offset.
"""


def write(out: pathlib.Path, results: dict, figures: list[str], seconds: float,
          quick: bool) -> dict:
  rows = []
  for o in results["offsets"]:
    r = results["variance"][o]
    for n in COSTS:
      v = r[n]
      rows.append((o, n, v["total_variance"], v["mean_sq_norm"], v["relative_variance"],
                   f"({v['mean_grad'][0]:.4f}, {v['mean_grad'][1]:.4f})"))
    rows.append((o, "1/2 grad KL(p_data||p_g) (exact)", "", "", "",
                 f"({r['kl_half_grad'][0]:.4f}, {r['kl_half_grad'][1]:.4f})"))
  dn = results["d"]
  at = lambda n, v: float(np.abs(results["slopes"][n])[np.argmin(np.abs(dn - v))])
  d_small = float(dn[np.argmin(np.abs(dn - 0.01))])
  text = common.render(
      TEMPLATE, n_batches=results["n_batches"], batch=results["batch"], figure=figures[0],
      slopes=common.md_table(["cost", f"|dJ/dD| at D={d_small:.2f}", "at D=0.5", "at D=0.99"],
                             [(n, at(n, 0.01), at(n, 0.5), at(n, 0.99)) for n in COSTS]),
      variance=common.md_table(["offset", "cost", "tr Cov(g)", "|E g|^2", "relative variance",
                                "E g (mu, log_s)"], rows))
  return common.write_report(out, "Generator costs and the variance of their gradients",
                             [text], results, figures, seconds, quick)
