"""Mode coverage on the 2-D grid and ring: GAN vs WGAN vs WGAN-GP.

Protocol of VEEGAN (Srivastava et al. 2017, sec. 5.1) as used by PacGAN (Lin et al.
2018, sec. 5.1 and their code, ``synthetic_data_experiments``):
- 2D-grid: 25 Gaussians centred on {-4, -2, 0, 2, 4}^2, std 0.05 (unscaled: not the
  library's '25gaussians', which divides by 2.828);
- 2D-ring: 8 Gaussians centred on the unit circle (radius 1) at multiples of 45
  degrees, std 0.01 (PacGAN's config; VEEGAN's text describes a radius-2 ring);
- training data: a fixed pool of 100,000 points; evaluation on 2,500 generated samples;
- a sample is high quality when it is within 3 standard deviations of its nearest
  mode centre; a mode is captured when at least one high-quality sample is nearest to
  it (PacGAN's code counts modes with a non-zero count); the reported numbers are
  averages over runs (PacGAN: 10 runs).
The metric is the library's ``metrics.mode_coverage`` with n_std=3, min_count=1.

Published (PacGAN, Table 1, 2D-grid; their G: 4 x 400 ReLU + batch norm, D: 3 x 200
maxout (5 pieces), Adam lr 1e-4, beta1 0.8, batch 100, 400 epochs of the pool): GAN
17.3 modes, 94.8 % high-quality samples; PacGAN2 23.8 modes, 91.3 %.
"""

from __future__ import annotations

import jax
import matplotlib.pyplot as plt
import numpy as np

from jaxgan import penalties
from jaxgan.data import toy
from jaxgan.experiments import common
from jaxgan.hparams import make_hparams
from jaxgan.metrics.mode_coverage import mode_coverage
from jaxgan.nets.mlp import MLPDiscriminator, MLPGenerator
from jaxgan.optimizers import make_optimizer
from jaxgan.train_state import create_state
from jaxgan.train_step import StepConfig, make_train_step

LATENT, BATCH, N_EVAL, POOL = 2, 100, 2500, 100_000
PUBLISHED = {"2D-grid": {"GAN (PacGAN table 1)": (17.3, 0.948),
                         "PacGAN2 (PacGAN table 1)": (23.8, 0.913)}}


def grid_centers() -> np.ndarray:
  g = np.arange(-4.0, 5.0, 2.0)
  return np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)


def ring_centers(radius: float = 1.0, n: int = 8) -> np.ndarray:
  a = 2 * np.pi * np.arange(n) / n
  return radius * np.stack([np.cos(a), np.sin(a)], -1)


DATASETS = {"2D-grid": (grid_centers(), 0.05), "2D-ring": (ring_centers(), 0.01)}


def methods(lr_scale: float) -> dict:
  """label -> (StepConfig, G optimizer, D optimizer, hparams); rates: the papers' x lr_scale."""
  adam_gan = lambda: make_optimizer("adam", 1e-4 * lr_scale, b1=0.5, b2=0.999)
  adam_gp = lambda: make_optimizer("adam", 1e-4 * lr_scale, b1=0.5, b2=0.9)
  rms = lambda: make_optimizer("rmsprop", 5e-5 * lr_scale)
  return {
      "GAN (non-saturating)": (StepConfig(game="non_saturating", n_critic=1,
                                          mode="simultaneous"), adam_gan(), adam_gan(),
                               make_hparams()),
      "WGAN (clip 0.01)": (StepConfig(game="wasserstein", n_critic=5,
                                      d_constraint=penalties.weight_clipping), rms(), rms(),
                           make_hparams(weight_clip=0.01)),
      "WGAN-GP (lambda 10)": (StepConfig(game="wasserstein", penalty="gradient_penalty",
                                         n_critic=5), adam_gp(), adam_gp(),
                              make_hparams(penalty_weight=10.0)),
  }


def run(out_dir, quick: bool = False, seeds: int | None = None, steps: int | None = None,
        width: int | None = None, lr_scale: float = 5.0) -> dict:
  """Trains every method on both data sets for several seeds; writes report.md + PNG."""
  timer = common.Timer()
  out = common.out_path(out_dir)
  seeds = seeds or (1 if quick else 3)
  steps = steps or (20 if quick else 12_000)  # ~12 min for all 18 runs on 2 CPU cores.
  width = width or (16 if quick else 128)
  chunk = min(steps, 250)
  steps = chunk * max(1, steps // chunk)
  table = methods(lr_scale)
  pools = {name: toy.mixture(jax.random.key(3 + i), POOL, c, s)
           for i, (name, (c, s)) in enumerate(DATASETS.items())}
  runners = {}
  per_run: dict = {}
  samples = {}
  # One pair of module objects: the state's static fields (the modules' apply functions,
  # the optimizers) are then equal across runs and each method compiles once.
  generator, discriminator = MLPGenerator((2,), width, 4), MLPDiscriminator(width, 3)
  for label, (cfg, g_tx, d_tx, hparams) in table.items():
    runners[label] = common.make_chunk_runner(make_train_step(cfg), cfg.n_critic, BATCH, chunk)
    for name, (centers, std) in DATASETS.items():
      for seed in range(seeds):
        state = create_state(jax.random.key(seed), generator, discriminator, g_tx, d_tx,
                             LATENT, (2,), hparams=hparams)
        state, hist = common.train_chunks(runners[label], state, pools[name],
                                          jax.random.key(500 + seed), steps, chunk,
                                          desc=f"{name} {label} seed {seed}")
        fake = np.asarray(state.sample(jax.random.key(10_000 + seed), N_EVAL))
        cov = mode_coverage(fake, centers, std, n_std=3.0, min_count=1)
        per_run[(name, label, seed)] = {"modes": cov["modes"], "high_quality": cov["high_quality"],
                                        "nonfinite_steps": int(hist["nonfinite"].sum())}
        if seed == 0:
          samples[(name, label)] = fake

  results: dict = {"summary": {}, "runs": {}, "real_data": {}}
  for name, (centers, std) in DATASETS.items():
    real = np.asarray(toy.mixture(jax.random.key(77), N_EVAL, centers, std))
    cov = mode_coverage(real, centers, std)
    results["real_data"][name] = {"modes": cov["modes"], "high_quality": cov["high_quality"]}
    for label in table:
      runs = [per_run[(name, label, s)] for s in range(seeds)]
      modes = np.array([r["modes"] for r in runs], float)
      hq = np.array([r["high_quality"] for r in runs], float)
      results["summary"][f"{name}/{label}"] = {
          "modes_mean": float(modes.mean()), "modes_std": float(modes.std()),
          "high_quality_mean": float(hq.mean()), "high_quality_std": float(hq.std()),
          "n_modes": len(centers), "seeds": seeds}
      results["runs"][f"{name}/{label}"] = runs

  fig, axes = plt.subplots(len(DATASETS), len(table), figsize=(4 * len(table), 4 * len(DATASETS)),
                           squeeze=False)
  for i, (name, (centers, std)) in enumerate(DATASETS.items()):
    lim = 1.4 * float(np.abs(centers).max())
    for j, label in enumerate(table):
      ax, fake = axes[i, j], samples[(name, label)]
      ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:blue", alpha=0.4)
      for c in centers:
        ax.add_patch(plt.Circle(tuple(c), 3 * std, fill=False, color="tab:red", lw=0.8))
      r = per_run[(name, label, 0)]
      ax.set_title(f"{name}, {label}\nseed 0: {r['modes']}/{len(centers)} modes, "
                   f"{100 * r['high_quality']:.1f}% high quality", fontsize=9)
      ax.set_xlim(-lim, lim)
      ax.set_ylim(-lim, lim)
      ax.set_aspect("equal")
  fig_name = common.save_figure(fig, out / "mode_coverage.png")

  rows = []
  for key, r in results["summary"].items():
    name, label = key.split("/", 1)
    rows.append((name, label, f"{r['modes_mean']:.1f} +- {r['modes_std']:.1f} / {r['n_modes']}",
                 f"{100 * r['high_quality_mean']:.1f} +- {100 * r['high_quality_std']:.1f}",
                 sum(x["nonfinite_steps"] for x in results["runs"][key])))
  for name, r in results["real_data"].items():
    rows.append((name, "real data (2,500 samples)", f"{r['modes']}",
                 f"{100 * r['high_quality']:.1f}", "-"))
  for name, pub in PUBLISHED.items():
    for label, (m, hq) in pub.items():
      rows.append((name, f"published: {label}", f"{m}", f"{100 * hq:.1f}", "-"))
  sections = [
      "Claim: GANs drop modes of a well-separated mixture; the published numbers below are "
      "PacGAN's (Lin et al. 2018, Table 1) under VEEGAN's protocol (Srivastava et al. 2017).",
      "## Protocol followed\n"
      "- Data: 2D-grid, 25 Gaussians at {-4,-2,0,2,4}^2, std 0.05 (unscaled); 2D-ring, 8 "
      "Gaussians on a circle of radius 1, std 0.01 (PacGAN's code). Training pool of "
      f"{POOL:,} points, batch {BATCH}, 2-D Gaussian noise.\n"
      f"- Metric: {N_EVAL} samples; high quality = within 3 std of the nearest mode centre "
      "(Euclidean distance / std, as PacGAN's code); a mode is captured with >= 1 "
      f"high-quality sample; mean +- std over {seeds} seed(s).\n"
      f"- Nets: G = 4 hidden ReLU layers of width {width}, D = 3 hidden ReLU layers of "
      f"width {width} (the library's MLPs).\n"
      f"- {steps} generator steps. GAN: non-saturating cost, 1 D step per G step, "
      "simultaneous updates, Adam (beta1 0.5). WGAN: clipping c = 0.01, 5 critic steps, "
      "RMSProp. WGAN-GP: lambda 10, 5 critic steps, Adam (0.5, 0.9). Learning rates: the "
      f"papers' (Adam 1e-4, RMSProp 5e-5) x {lr_scale:g}.",
      "## How this differs from PacGAN's setup\n"
      f"- PacGAN trains for 400 epochs of 100,000 points at batch 100 (400,000 generator "
      f"steps); here {steps} steps, with the learning rates raised x {lr_scale:g} to "
      "compensate, on a 2-core CPU.\n"
      "- PacGAN's G has batch norm and width 400; its D is a 3-layer maxout net of width "
      "200 (5 pieces) with Adam beta1 0.8. Here both are plain ReLU MLPs of the width "
      "above.\n- PacGAN reports 10 runs; here the seed count above.",
      "## Results\n" + common.md_table(
          ["data", "method", "modes captured", "high-quality samples (%)", "non-finite steps"],
          rows),
      f"![samples]({fig_name})\n\n2,500 samples of seed 0's generator for each data set "
      "(rows) and method (columns); red circles: 3 std around each mode centre.",
  ]
  return common.write_report(out, "Mode coverage on the 2-D grid and ring", sections, results,
                             [fig_name], timer(), quick)
