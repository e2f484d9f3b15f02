"""WGAN clipping vs WGAN-GP, the report."""

from __future__ import annotations

import pathlib

import numpy as np

from jaxgan.experiments import common
from jaxgan.experiments.wgan_gp_vs_clipping.measure import BATCH, N_CRITIC

TEMPLATE = """\
Claims (Gulrajani et al. 2017, sec. 3, fig. 1): weight clipping biases the critic towards
simple functions; with clipping, gradients explode or vanish across the critic's depth,
while with the gradient penalty they do not; clipping pushes the weights to +-c.

## Setup
$toy_setup
- WGAN: RMSProp lr 5e-5, clipping every critic parameter to [-c, c] after each critic
  update. WGAN-GP: Adam lr 1e-4, betas (0.5, 0.9), lambda 0.1 (gan_toy.py) and 10 (the
  paper). Initialisation: He-uniform (as gan_toy.py), so most weights exceed c=0.01 at
  initialisation and sit at +-c after the first clip.
- Depth analysis (fig. 1b/1c): $deep_layers Dense layers ($deep_hidden hidden ReLU layers
  of width $depth_width + output) for both critic and generator (the paper: 12-layer ReLU
  MLPs, width not stated), no batch norm, Swiss Roll, $depth_steps generator steps.
- Per-layer norm: RMS over 1024 real + 1024 generated points of ||d f(x)/d h_k|| with h_k
  the input of Dense layer k (k = 0: the data x), from the library's `MLPDiscriminator`
  itself (a zero perturbation added to each Dense layer's input through a Flax method
  interceptor, differentiated in float64). The paper plots the gradient of the critic
  loss w.r.t. the activations, the same per-example gradient scaled by 1/B. 'spread' =
  log10(max/min) over layers; 'factor per layer' = 10^(slope of a line fitted to log10
  norm vs k), > 1 meaning the gradient shrinks towards the input, < 1 that it grows.
- Input gradient: ||grad_x f|| at interpolates eps x + (1-eps) G(z) (the penalty's
  points). 'at +-c': fraction of kernel weights with |w| >= 0.99c; 'at max': fraction with
  |w| >= 0.99 max|w| (comparable for every method).
$toy_section
## Depth analysis
$depth_table
$piled_section
![depth](depth_gradients_and_weights.png)

Left: per-layer gradient norm of the trained deep critics vs depth (log scale). Middle:
the same for untrained critics with every weight at +-c (dashed: the depth analysis
width, solid: 512). Right: histograms of the trained deep critics' kernel weights
(divided by c, or by the largest |w| for GP).
"""

TOY_SETUP = """\
- Toy sets: $datasets (the library's `toy.sample`, gan_toy.py's scaling), drawn from a
  fixed pool of 100,000 points as gan_toy.py does.
- Toy nets: 3 hidden ReLU layers of width $width (gan_toy.py: 512; narrowed for a 2-core
  CPU), $steps generator steps (gan_toy.py: 100,000), batch $batch, $n_critic critic
  steps per generator step, 2-D noise."""

TOY_SECTION = """
## Toy sets
$table

Modes/high quality: `metrics.mode_coverage` on 1,024 samples (3 std, >= 1 sample).

![critics](critics.png)

Critic value (colour) with 500 real (orange) and 500 generated (blue) points, one row per
data set, one column per method.

![weights](toy_weights.png)
"""

PILED_SECTION = """
The constraint alone (no training): critics of the same depth whose kernel entries all
sit at +-c (signs of a He initialisation, biases 0), the state clipping drives the
weights to, on 512 Swiss Roll points. Each layer scales the backpropagated gradient by
about c sqrt(width/2): above 1 the norms explode towards the input, below 1 they vanish.

$table
"""


def per_layer(norms) -> float:
  """10^(slope of log10 norm vs layer index)."""
  norms = np.asarray(norms)
  return float(10 ** np.polyfit(np.arange(len(norms)), np.log10(norms), 1)[0])


def _dash(v):
  return "-" if v is None else v


def write(out: pathlib.Path, results: dict, figures: list[str], seconds: float,
          quick: bool) -> dict:
  s = results["settings"]
  toy_rows = [(*key.split("/", 1), r["w_estimate"], r["input_grad_norm_mean"],
               r["input_grad_norm_std"], " / ".join(f"{v:.3g}" for v in r["layer_norms"]),
               r.get("modes", "-"), r.get("high_quality", "-"), _dash(r["pile_fraction"]),
               r["top_fraction"], r["nonfinite_steps"]) for key, r in results["toy"].items()]
  depth_rows = [(label, r["layer_norms"][0], r["layer_norms"][len(r["layer_norms"]) // 2],
                 r["layer_norms"][-1], r["layer_spread_decades"], per_layer(r["layer_norms"]),
                 _dash(r["pile_fraction"]), r["top_fraction"], r["nonfinite_steps"])
                for label, r in results["depth"].items()]
  piled_rows = [(label, r["c_sqrt_width_over_sqrt2"], r["layer_norms"][0], r["layer_norms"][-1],
                 r["layer_spread_decades"], per_layer(r["layer_norms"]))
                for label, r in results["clipped_init"].items()]
  toy = bool(results["toy_methods"])
  text = common.render(
      TEMPLATE, deep_layers=s["deep_layers"], deep_hidden=s["deep_layers"] - 1,
      depth_width=s["depth_width"], depth_steps=s["depth_steps"],
      toy_setup=common.render(TOY_SETUP, datasets=", ".join(results["datasets"]),
                              width=s["width"], steps=s["steps"], batch=BATCH,
                              n_critic=N_CRITIC)
      if toy else "- Quick run: the toy-set part is skipped.",
      toy_section=common.render(TOY_SECTION, table=common.md_table(
          ["data", "method", "W estimate E f(x) - E f(G(z))", "|grad_x f| mean", "std",
           "per-layer norms (input -> last hidden)", "modes", "high quality", "at +-c",
           "at max", "non-finite steps"], toy_rows)) if toy else "",
      depth_table=common.md_table(
          ["method", "norm at input", "middle layer", "last hidden", "spread (decades)",
           "factor per layer", "at +-c", "at max", "non-finite steps"], depth_rows),
      piled_section=common.render(PILED_SECTION, table=common.md_table(
          ["critic", "c sqrt(width/2)", "norm at input", "last hidden", "spread (decades)",
           "factor per layer"], piled_rows)) if piled_rows else "")
  return common.write_report(out, "WGAN weight clipping vs gradient penalty", [text], results,
                             figures, seconds, quick)
