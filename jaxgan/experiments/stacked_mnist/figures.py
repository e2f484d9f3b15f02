"""Stacked MNIST, the figures: 64 data samples, and 64 samples of each method (seed 0)."""

from __future__ import annotations

import pathlib

from jaxgan import plotting
from jaxgan.experiments import common


def draw(results: dict, out: pathlib.Path) -> list[str]:
  names = ["real_samples.png"]
  plotting.save_image_grid(out / names[0], results["real_grid"], 8,
                           f"stacked digits (data): {results['real']['modes']} modes")
  for label, cell in results["cells"].items():
    name = f"samples_{common.slug(label)}.png"
    r = cell["runs"][0]
    plotting.save_image_grid(out / name, cell["grid"], 8,
                             f"{label} (seed 0): {r['modes']} modes, KL {r['kl']:.2f}")
    names.append(name)
  return names
