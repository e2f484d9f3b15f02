"""Mode coverage of samples from a mixture with known, well-separated modes.

A sample is "high quality" when it lies within ``n_std`` standard deviations of the
nearest mode centre (Srivastava et al. 2017, VEEGAN, sec. 5.1; Lin et al. 2018,
PacGAN, sec. 5.1 use three). A mode is "captured" when at least ``min_count``
high-quality samples are assigned to it.
"""

from __future__ import annotations

import math

import numpy as np


def mode_coverage(samples, centers, std: float, n_std: float = 3.0,
                  min_count: int = 1) -> dict:
  """Returns {'modes': int, 'high_quality': float, 'counts': list[int]} (numpy, float64)."""
  centers = np.asarray(centers, np.float64)
  samples = np.asarray(samples, np.float64).reshape(len(samples), centers.shape[-1])
  dist = np.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=-1)
  nearest = dist.argmin(axis=1)
  good = dist[np.arange(len(samples)), nearest] <= n_std * std
  counts = np.bincount(nearest[good], minlength=len(centers))
  return {
      "modes": int((counts >= min_count).sum()),
      "high_quality": float(good.mean()) if len(samples) else 0.0,
      "counts": counts.tolist(),
  }


def kl_to_uniform(counts) -> float:
  """KL(p || uniform over the len(counts) modes), p the distribution the counts give
  (PacGAN's "reverse KL"); inf when there are no counts at all."""
  counts = np.asarray(counts, np.float64)
  if counts.sum() == 0:
    return math.inf
  p = counts[counts > 0] / counts.sum()
  return float(np.sum(p * np.log(p * len(counts))))
