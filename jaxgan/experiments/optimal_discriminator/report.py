"""The optimal discriminator, the report."""

from __future__ import annotations

import pathlib

from jaxgan.experiments import common
from jaxgan.experiments.optimal_discriminator.measure import (
    GRID, MIN_DENSITY, MODEL_MEAN, MODEL_STD)

TEMPLATE = """\
Claim (Goodfellow 2016, NIPS tutorial, eq. 10 and sec. 4.2): the discriminator that
minimises J(D) is D*(x) = ((1-alpha) p_data + beta p_model)/(p_data + p_model); one-sided
smoothing (alpha) lowers D to 1-alpha on the data, a fake target beta > 0 makes D ~ beta
where p_data ~ 0 but p_model is large.

## Setup
- p_data: 'mog1d' = 0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2); p_model: fixed
  N($model_mean, $model_std^2).
- D: `MLPDiscriminator(width=$width, depth=$depth)` (ReLU), cost
  `losses.discriminator_cross_entropy(real, fake, alpha, beta)`, Adam lr $lr with cosine
  decay, $steps steps, $batch fresh samples of each density per step.
- Error |D - D*| on $grid_n grid points in [$grid_lo, $grid_hi], restricted to
  (p_data+p_model)/2 >= $min_density (x in [$lo, $hi]; outside, both densities are
  negligible and D is unconstrained; grey in the figure).
- 'on data': mean over |x| within 0.25 of +-2; 'off data': mean over |x| <= 0.5, where
  p_data/p_model < 1e-2. p_model overlaps the data modes, so D* there is ~0.78, not 1;
  one-sided smoothing multiplies it by 1 - alpha (the ratio column).

## Results
$table

![D vs theory]($figure)

Top and bottom left: trained D(x) (red) vs D*(x) (dashed) with both densities. Bottom
right: error vs D training steps.
"""


def write(out: pathlib.Path, results: dict, figures: list[str], seconds: float,
          quick: bool) -> dict:
  rows = [(label, r["alpha"], r["beta"], r["max_abs_err"], r["mean_abs_err"],
           r["initial_mean_abs_err"], r["d_on_data"], r["theory_on_data"],
           r["on_data_ratio_to_unsmoothed"], r["d_off_data"], r["theory_off_data"])
          for label, r in results["cases"].items()]
  xs = results["x"][results["mask"]]
  text = common.render(
      TEMPLATE, **results["settings"], model_mean=MODEL_MEAN, model_std=MODEL_STD,
      grid_lo=GRID[0], grid_hi=GRID[1], grid_n=GRID[2], min_density=MIN_DENSITY,
      lo=f"{xs[0]:.2f}", hi=f"{xs[-1]:.2f}", figure=figures[0],
      table=common.md_table(
          ["case", "alpha", "beta", "max abs err", "mean abs err", "mean err at init",
           "D on data", "D* on data", "D on data / D on data (alpha=0)", "D off data",
           "D* off data"], rows))
  return common.write_report(out, "Optimal discriminator and label smoothing", [text],
                             results, figures, seconds, quick)
