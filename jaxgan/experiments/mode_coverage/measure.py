"""Mode coverage, the measurement: every method trained for 10 seeds in one vmapped
program (``jaxgan.sweep.program``), scored with PacGAN's metrics.

Protocol (VEEGAN, Srivastava et al. 2017, sec. 5.1; PacGAN, Lin et al. 2018, sec. 5.1
and Table 1):
- 2D-grid: 25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05; 2D-ring: 8 Gaussians on the
  unit circle, std 0.01 (PacGAN's values); a fixed training pool of 100,000 points;
- 2,500 generated samples per run; a sample is high quality within 3 std of its nearest
  centre; a mode is captured with >= 1 high-quality sample; reverse KL is
  KL(p_gen || uniform) over the modes, p_gen the histogram of the high-quality samples;
- mean and standard error over the seeds (PacGAN: 10 runs).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jax
import numpy as np

from jaxgan.config import get_config
from jaxgan.data import toy
from jaxgan.experiments import common
from jaxgan.metrics.mode_coverage import kl_to_uniform, mode_coverage
from jaxgan.sweep import program
from jaxgan.sweep.grid import set_field

BATCH, N_EVAL, POOL, LATENT = 100, 2500, 100_000, 2


def grid_centers() -> np.ndarray:
  g = np.arange(-4.0, 5.0, 2.0)
  return np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)


def ring_centers(radius: float = 1.0, n: int = 8) -> np.ndarray:
  a = 2 * np.pi * np.arange(n) / n
  return radius * np.stack([np.cos(a), np.sin(a)], -1)


DATASETS = {"2D-grid": (grid_centers(), 0.05), "2D-ring": (ring_centers(), 0.01)}
# The nets see the data divided by this (gan_toy.py's normalisation of its grid, 2.828);
# samples are multiplied back before scoring, so the metric is PacGAN's.
SCALE = {"2D-grid": 2.828, "2D-ring": 1.0}


GAN_STEPS = 100_000  # The GAN's generator steps in the full run; other rows: Method.steps.


@dataclasses.dataclass(frozen=True)
class Method:
  """A row of the table: config overrides over the shared base, and its generator steps
  in the full run (a run with other ``steps`` for the GAN scales every row alike)."""
  label: str
  overrides: dict
  steps: int = GAN_STEPS
  grid_steps: int | None = None  # Steps on the grid, where it needs more than the ring.

  def step_share(self, dataset: str) -> float:
    """The row's steps on ``dataset`` as a fraction of the GAN's ``GAN_STEPS``."""
    steps = self.grid_steps if dataset == "2D-grid" and self.grid_steps else self.steps
    return steps / GAN_STEPS


def _game(game: str, lr: float, b1: float, b2: float, **extra) -> dict:
  out = {"loss.game": game, "penalty.name": "none", "train.n_critic": 1,
         "train.mode": "alternating"}
  for p in "gd":
    out.update({f"{p}_optimizer.learning_rate": lr, f"{p}_optimizer.b1": b1,
                f"{p}_optimizer.b2": b2})
  out.update(extra)
  return out


def methods(quick: bool = False) -> dict[str, Method]:
  """The compared methods: PacGAN's two rows, WGAN-GP with and without packing, WGAN-GP
  trained twice as long, and the best of the probes: the GAN with R1 (Mescheder et al.
  2018: D's squared gradient norm at the real points, weight gamma / 2).

  GAN and PacGAN2 use PacGAN's Adam (betas (0.8, 0.999)) at lr 5e-4 falling linearly to
  0 over 150,000 steps on the grid, 100,000 on the ring (PacGAN: 1e-4 constant over
  400,000 steps).
  The other rows keep the faster settings of their probes (lr 2e-3 / 1e-3, betas 0.5),
  listed with their figures in ``report.PROBES``; ``quick`` (8,000 steps) gives GAN and
  PacGAN2 the faster ones too, as PacGAN's take far longer to concentrate the samples.
  """
  fast_gan = _game("non_saturating", 2e-3, 0.5, 0.999)
  gan = fast_gan if quick else _game("non_saturating", 5e-4, 0.8, 0.999)
  wgan_gp = _game("wasserstein", 1e-3, 0.5, 0.9, **{
      "penalty.name": "gradient_penalty", "penalty.weight": 0.1, "train.n_critic": 5})
  grid = None if quick else 150_000
  rows = [Method("GAN", gan, grid_steps=grid),
          Method("PacGAN2", {**gan, "model.pack": 2}, grid_steps=grid),
          Method("WGAN-GP", wgan_gp, 6_000),
          Method("WGAN-GP + pack 2", {**wgan_gp, "model.pack": 2}, 6_000),
          Method("WGAN-GP, 2x steps", wgan_gp, 12_000),
          Method("GAN + R1",
                 {**fast_gan, "penalty.name": "r1", "penalty.weight": 0.01}, 48_000)]
  return {m.label: m for m in rows}


def base_config(width: int, steps: int):
  c = get_config()
  for field, value in {"model.name": "mlp", "model.width": width, "model.depth": 3,
                       "model.latent_dim": LATENT, "data.batch_size": BATCH,
                       "train.steps": steps, "g_optimizer.decay_steps": steps,
                       "d_optimizer.decay_steps": steps}.items():
    set_field(c, field, value)
  return c


def pool(name: str) -> jax.Array:
  centers, std = DATASETS[name]
  points = toy.mixture(jax.random.key(3 + list(DATASETS).index(name)), POOL, centers, std)
  return points / SCALE[name]


def scores(samples: np.ndarray, centers: np.ndarray, std: float) -> dict:
  """PacGAN's three numbers for one run's samples."""
  cov = mode_coverage(samples, centers, std, n_std=3.0, min_count=1)
  return {"modes": cov["modes"], "high_quality": cov["high_quality"],
          "reverse_kl": kl_to_uniform(cov["counts"])}


def method_steps(method: Method, gan_steps: int, dataset: str, chunk: int = 500) -> int:
  """``method``'s generator steps on ``dataset`` when the GAN trains ``gan_steps`` on the
  ring: its share, rounded to whole chunks (runs shorter than a chunk are kept as they are)."""
  if gan_steps < chunk:
    return gan_steps
  return max(chunk, int(round(gan_steps * method.step_share(dataset) / chunk)) * chunk)


def train_sweep(method: Method, dataset: str, seeds: int, steps: int, width: int,
                chunk: int = 500) -> dict[str, Any]:
  """Trains ``seeds`` variants of ``method`` in one program; their scores and samples."""
  timer = common.Timer()
  steps = method_steps(method, steps, dataset, chunk)
  chunk = min(chunk, steps)
  config = base_config(width, steps)
  for field, value in method.overrides.items():
    set_field(config, field, value)
  data = pool(dataset)
  sweep = common.train_seeds(config, seeds, (2,), lambda d, k, n: d[
      jax.random.randint(k, (n,), 0, POOL)], data, 500, chunk, desc=method.label)
  fakes = SCALE[dataset] * np.asarray(program.sample_all(sweep, jax.random.key(10_000), N_EVAL))
  centers, std = DATASETS[dataset]
  runs = [scores(f, centers, std) for f in fakes]
  return {"runs": runs, "steps": steps, "seconds": timer(), "seeds": seeds, "width": width,
          "diverged_at": np.asarray(sweep.diverged_at).tolist(),
          "samples_seed0": fakes[0], "overrides": method.overrides}


def summarize(runs: list[dict]) -> dict:
  """Mean and standard error (std / sqrt(n), ddof 1) of each score over the runs; the
  reverse KL over the runs that have high-quality samples (it is undefined otherwise)."""
  out = {}
  for k in ("modes", "high_quality", "reverse_kl"):
    v = np.array([r[k] for r in runs], float)
    out[k] = common.mean_se(v[np.isfinite(v)])
  return out


def _cell(out, dataset: str, method: Method, seeds: int, steps: int, width: int) -> dict:
  """One (data set, method) cell: trained, or read back from ``out/runs`` when a run of
  the same settings is there (so that a long measurement can be resumed)."""
  setting = {"dataset": dataset, "method": method.label, "overrides": method.overrides,
             "seeds": seeds, "steps": method_steps(method, steps, dataset), "width": width}
  stem = None if out is None else out / "runs" / common.slug(f"{dataset} {method.label}")
  if stem is not None and stem.with_suffix(".json").exists():
    saved = json.loads(stem.with_suffix(".json").read_text())
    if saved["setting"] == json.loads(json.dumps(setting)):
      saved["samples_seed0"] = np.load(stem.with_suffix(".npy"))
      return saved
  cell = train_sweep(method, dataset, seeds, steps, width)
  cell["setting"] = setting
  cell["device"] = common.device_description()
  if stem is not None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    np.save(stem.with_suffix(".npy"), cell["samples_seed0"])
    stem.with_suffix(".json").write_text(json.dumps(
        {k: v for k, v in cell.items() if k != "samples_seed0"}, indent=1))
  return cell


def measure(quick: bool = False, out=None, seeds: int | None = None, steps: int | None = None,
            width: int | None = None) -> dict:
  """Every (data set, method) cell; ``steps`` is the GAN's on the ring (default
  ``GAN_STEPS``), each method trains ``steps * method.step_share(dataset)``
  (``Method.steps`` or ``grid_steps`` in the full run)."""
  seeds = seeds or (8 if quick else 10)
  steps = steps or (8000 if quick else GAN_STEPS)
  width = width or (32 if quick else 128)
  cells = {}
  for dataset in DATASETS:
    for method in methods(quick).values():
      if quick and (method.step_share(dataset) != 1 or dataset != "2D-grid"):
        continue  # The CI run compares GAN and PacGAN2 on the grid only.
      cell = _cell(out, dataset, method, seeds, steps, width)
      cell["summary"] = summarize(cell["runs"])
      cells[(dataset, method.label)] = cell
  real = {}
  for i, (dataset, (centers, std)) in enumerate(DATASETS.items()):
    points = np.asarray(toy.mixture(jax.random.key(77 + i), N_EVAL, centers, std))
    real[dataset] = scores(points, centers, std)
  return {"cells": cells, "real_data": real,
          "settings": {"seeds": seeds, "steps": steps, "width": width}}
