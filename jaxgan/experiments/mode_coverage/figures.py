"""Mode coverage, the figure: seed 0's samples of every method on both data sets."""

from __future__ import annotations

import pathlib

import matplotlib.pyplot as plt
import numpy as np

from jaxgan.experiments import common
from jaxgan.experiments.mode_coverage.measure import DATASETS


def draw(results: dict, out: pathlib.Path) -> list[str]:
  """``mode_coverage.png``: a row per data set, a column per method; red circles are the
  3-std discs around the mode centres (a sample inside one is high quality)."""
  labels = list(dict.fromkeys(label for _, label in results["cells"]))
  names = list(dict.fromkeys(name for name, _ in results["cells"]))
  fig, axes = plt.subplots(len(names), len(labels),
                           figsize=(3.6 * len(labels), 3.7 * len(names)), squeeze=False)
  for i, name in enumerate(names):
    centers, std = DATASETS[name]
    lim = 1.4 * float(np.abs(centers).max())
    for j, label in enumerate(labels):
      ax, cell = axes[i, j], results["cells"][(name, label)]
      fake, r = np.asarray(cell["samples_seed0"]), cell["runs"][0]
      ax.scatter(fake[:, 0], fake[:, 1], s=1.5, c="tab:blue", alpha=0.5)
      for c in centers:
        ax.add_patch(plt.Circle(tuple(c), 3 * std, fill=False, color="tab:red", lw=0.7))
      ax.set_title(f"{name}, {label}\nseed 0: {r['modes']}/{len(centers)} modes, "
                   f"{100 * r['high_quality']:.1f} % high quality", fontsize=8)
      ax.set_xlim(-lim, lim)
      ax.set_ylim(-lim, lim)
      ax.set_aspect("equal")
  return [common.save_figure(fig, out / "mode_coverage.png")]
