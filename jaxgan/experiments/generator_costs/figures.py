"""Generator costs, the figure (the tutorial's fig. 16 and the gradient variances)."""

from __future__ import annotations

import pathlib

import matplotlib.pyplot as plt
import numpy as np

from jaxgan.experiments import common
from jaxgan.experiments.generator_costs.measure import COLORS, COSTS


def draw(results: dict, out: pathlib.Path) -> list[str]:
  """``generator_costs.png``: J(G) vs D(G(z)); |dJ/dD| (log); relative variance vs offset."""
  fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
  dn, offsets = results["d"], results["offsets"]
  for n in COSTS:
    axes[0].plot(dn, results["curves"][n], c=COLORS[n], label=n)
    axes[1].plot(dn, np.abs(results["slopes"][n]), c=COLORS[n], label=n)
    rel = [results["variance"][o][n]["relative_variance"] for o in offsets]
    axes[2].plot(offsets, rel, c=COLORS[n], marker="o", label=n)
  axes[0].set_ylim(-20, 5)
  axes[0].set_xlabel("D(G(z))")
  axes[0].set_ylabel("J(G)")
  axes[0].set_title("generator costs (tutorial fig. 16)", fontsize=9)
  axes[0].legend(fontsize=8)
  axes[1].set_yscale("log")
  axes[1].set_xlabel("D(G(z))")
  axes[1].set_ylabel("|dJ(G) / dD(G(z))|  (jax.grad)")
  axes[1].set_title("derivatives with respect to D(G(z))", fontsize=9)
  axes[2].set_yscale("log")
  axes[2].set_xlabel("generator mean offset from the data mean")
  axes[2].set_ylabel("tr Cov(g) / |E g|^2")
  axes[2].set_title(f"relative variance of minibatch gradients (B={results['batch']})",
                    fontsize=9)
  axes[2].legend(fontsize=8)
  return [common.save_figure(fig, out / "generator_costs.png")]
