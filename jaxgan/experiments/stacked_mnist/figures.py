"""Stacked MNIST, the figures: 64 data samples, 64 samples of each method (seed 0), and
the digits' frequencies of the data and of each method (seed 0) beside uniform."""

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
  freqs = {label: cell["runs"][0]["digit_freq"] for label, cell in results["cells"].items()
           if "digit_freq" in cell["runs"][0]}  # Not in caches older than it.
  if freqs:
    names.append("digit_frequencies.png")
    plotting.save_bars(out / names[-1], range(10),
                       {"data": results["real"]["digit_freq"], **freqs},
                       "each digit's share of the labelled channels (seed 0; dashed: 1/10)",
                       "frequency", reference=0.1)
  return names
