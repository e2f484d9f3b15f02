"""Mode coverage, the report: the measured table beside PacGAN's Table 1."""

from __future__ import annotations

import pathlib

from jaxgan.experiments import common
from jaxgan.experiments.mode_coverage.measure import BATCH, N_EVAL, POOL, SCALE

# PacGAN (Lin et al. 2018) Table 1: (modes, high-quality %, reverse KL), mean +- s.e.
PUBLISHED = {
    ("2D-grid", "GAN"): ((17.3, 0.8), (94.8, 0.7), (0.70, 0.07)),
    ("2D-grid", "PacGAN2"): ((23.8, 0.7), (91.3, 0.8), (0.13, 0.04)),
    ("2D-ring", "GAN"): ((6.3, 0.5), (98.2, 0.2), None),
    ("2D-ring", "PacGAN2"): ((7.9, 0.1), (95.6, 2.0), None),
}

# The probes on the grid that chose the learning rates and steps (2-core CPU, the
# library's mlp of width 128 unless said; measured before the full run, with its code):
# (method, learning rate, generator steps, modes, high quality %, reverse KL). 3 seeds and
# Adam betas (0.5, 0.999) unless said ("b1 0.8": PacGAN's (0.8, 0.999)).
PROBES = [
    ("GAN", "3e-4", "4,000", 20.0, 6.8, 0.83), ("GAN", "3e-4", "16,000", 14.7, 51.2, 1.04),
    ("GAN", "1e-3", "8,000", 15.3, 70.7, 0.85), ("GAN", "1e-3", "16,000", 14.7, 91.1, 0.90),
    ("GAN", "2e-3", "24,000", 12.0, 96.3, 0.97), ("GAN", "3e-3", "16,000", 9.0, 94.8, 1.23),
    ("PacGAN2", "2e-3", "24,000", 17.7, 86.7, 0.76),
    ("PacGAN2", "3e-3", "16,000", 23.7, 68.5, 0.49),
    ("PacGAN2", "3e-3", "32,000", 19.0, 92.7, 0.41),
    ("PacGAN4", "3e-3", "24,000", 21.3, 28.7, 0.70),
    ("GAN, width 256", "1e-3", "16,000", 13.7, 93.8, 0.92),
    ("PacGAN2, width 256", "3e-3", "16,000", 22.0, 76.8, 0.53),
    ("GAN, pacgan_mlp (10x the time)", "3e-4", "4,000", 14.7, 5.8, 0.88),
    ("WGAN-GP", "1e-3", "6,000", 25.0, 56.1, 0.087),
    ("WGAN-GP", "1e-3", "12,000", 25.0, 78.5, 0.013),
    ("WGAN-GP, G's moving average 0.999", "1e-3", "12,000", 25.0, 78.5, 0.013),
    ("WGAN-GP", "2e-3", "12,000", 25.0, 89.5, 0.008),
    ("GAN + R1 10", "2e-3", "24,000", 25.0, 70.6, 0.035),
    ("GAN + R1 1", "2e-3", "24,000", 25.0, 89.6, 0.008),
    ("GAN + R1 0.1", "2e-3", "24,000", 25.0, 91.5, 0.008),
    ("GAN + R1 0.03", "2e-3", "24,000", 25.0, 92.7, 0.007),
    ("GAN + R1 0.01", "2e-3", "24,000", 25.0, 93.8, 0.009),
    ("GAN + R1 0.001", "2e-3", "24,000", 24.7, 93.6, 0.040),
    ("GAN + R1 0.01", "3e-3", "24,000", 25.0, 94.6, 0.009),
    ("GAN + R1 0.01", "5e-3", "24,000", 25.0, 93.8, 0.008),
    ("GAN + R1 0.1", "2e-3", "48,000", 25.0, 93.7, 0.014),
    ("GAN + R1 0.01", "2e-3", "48,000", 25.0, 96.0, 0.005),
    ("GAN + R1 0.01", "3e-3", "48,000", 25.0, 96.2, 0.007),
    ("GAN, b1 0.8, constant lr, grid not rescaled (5 seeds)", "1e-4", "100,000", 18.6, 74.1,
     0.47),
    ("GAN, b1 0.8, constant lr (5 seeds)", "1e-4", "100,000", 21.4, 83.0, 0.33),
    ("GAN, b1 0.8 (5 seeds)", "2e-4", "100,000", 19.6, 92.2, 0.42),
    ("PacGAN2, b1 0.8 (5 seeds)", "2e-4", "100,000", 25.0, 82.2, 0.12),
    ("GAN, b1 0.8 (5 seeds)", "3e-4", "40,000 of 100,000", 19.0, 78.7, 0.50),
    ("PacGAN2, b1 0.8 (5 seeds)", "3e-4", "100,000", 24.0, 87.9, 0.21),
    ("GAN, b1 0.8 (5 seeds)", "5e-4", "100,000", 21.8, 95.6, 0.24),
    ("PacGAN2, b1 0.8 (5 seeds)", "5e-4", "100,000", 23.2, 92.3, 0.29),
    ("GAN, b1 0.8 (5 seeds)", "5e-4", "75,000 of 150,000", 19.6, 93.1, 0.42),
    ("PacGAN2, b1 0.8 (5 seeds)", "5e-4", "100,000 of 150,000", 23.4, 91.4, 0.12),
    ("GAN, b1 0.8 (10 seeds: a full run)", "5e-4", "100,000", 20.3, 95.8, 0.34),
    ("PacGAN2, b1 0.8 (10 seeds: a full run)", "5e-4", "100,000", 23.8, 92.1, 0.22),
]

TEMPLATE = """\
Claim: a GAN drops modes of a well-separated mixture, and packing (PacGAN2: D judges two
samples at once) recovers them (Lin et al. 2018, Table 1, under VEEGAN's protocol).

## Protocol
- Data: 2D-grid, 25 Gaussians at {-4,-2,0,2,4}^2, std 0.05; 2D-ring, 8 Gaussians on the
  unit circle, std 0.01. A fixed pool of $pool points per data set; batch $batch; 2-D
  Gaussian noise. The nets see the grid divided by $grid_scale (gan_toy.py's scaling);
  samples are scaled back before scoring.
- Metric: $n_eval samples per run; high quality = within 3 std of the nearest centre; a
  mode is captured with >= 1 high-quality sample; reverse KL = KL(p_gen || uniform) over
  the modes, p_gen the histogram of the high-quality samples. Mean +- standard error
  over $seeds seeds, all seeds of a method trained in one vmapped program
  (`jaxgan.sweep.program`).
- Nets: the library's `mlp`, 3 hidden ReLU layers of width $width in both players.
- Training: $gan_steps generator steps on the grid and $gan_ring_steps on the ring for GAN
  and PacGAN2 (1 D step per G step, non-saturating cost, PacGAN's Adam betas (0.8, 0.999)
  at lr $gan_lr); $wgan_steps for the WGAN-GP rows, twice that for "WGAN-GP, 2x steps"
  (5 critic steps, lambda $gp_weight, Adam lr $wgan_lr, betas (0.5, 0.9)).
  "GAN + R1": $r1_steps steps of the GAN's game at the probes' faster settings
  (Adam lr $r1_lr, betas (0.5, 0.999)) with R1 (Mescheder et al. 2018: weight x
  E ||grad D(x)||^2 at the real points, added to D's cost) of weight $r1_weight (gamma / 2
  in the paper's terms; the grid as the nets see it).
  Learning rates fall linearly to 0 over each run. Packing: `model.pack = 2`.
- Device: $device; wall time per cell in the table, $cell_seconds s in all (a cell read
  back from `runs/` keeps the time of the run that trained it).

## How this differs from PacGAN's setup
- PacGAN trains 400 epochs of 100,000 points at batch 100 (400,000 generator steps) at a
  constant lr 1e-4, with a G of 4 x 400 ReLU + batch norm and a D of 3 x 200 maxout units
  (`model.name = 'pacgan_mlp'`: 7 steps/s for 10 seeds on this CPU, 15x the cost of the
  nets here, so 400,000 steps would take 16 hours per method and data set). Here GAN and
  PacGAN2 keep PacGAN's Adam betas, with a quarter (ring) or 3/8 (grid) of the steps at
  5x the learning rate, decaying, on the library's smaller `mlp`.

## How the settings were chosen
Probes on the grid, before the full run: 3 seeds and Adam betas (0.5, 0.999) unless said
("b1 0.8": PacGAN's betas (0.8, 0.999), 5 seeds); the learning rate falls linearly to 0
over the run unless said ("40,000 of 100,000": scored part-way, the rate still falling):

$probes

At betas (0.5, 0.999), longer training or a higher learning rate concentrates the samples
on the modes and drops modes as it does; packing concentrates them more slowly and keeps
more modes. PacGAN's betas (0.8, 0.999) keep more of the GAN's modes as the samples
sharpen (about 20 of 25 from 40,000 steps on, at every rate tried); over 100,000 steps a
higher rate raises the high-quality share of both GAN and PacGAN2, and PacGAN2 keeps more
modes at the lower rates. The GAN and PacGAN2 rows use 5e-4, the rate at which both
reached PacGAN's high-quality share in 100,000 steps; on the grid PacGAN2's reverse KL
(0.29 over 5 seeds, 0.22 over 10) stayed above PacGAN's 0.13 +- 0.04, and the same rate
spread over 150,000 steps had it at 0.12 two thirds of the way, so the grid rows train
150,000. WGAN-GP keeps all 25 modes at every length probed, with fewer high-quality
samples. R1 (the number after it is its weight) keeps all 25 modes as well at the faster
settings (lr 2e-3) and sharpens them as the run grows, the larger weights less; a moving
average of G's parameters changes nothing here, as the learning rate already falls to 0.

## Results
$table

The published rows are PacGAN's Table 1 (10 runs each); PacGAN gives no reverse KL for the
ring. "diverged": seeds whose step went non-finite (frozen from then on).

![samples]($figure)

Seed 0's $n_eval samples for each data set (rows) and method (columns); red circles: 3 std
around each centre.
"""


def _pm(mean_se, scale: float = 1.0, digits: int = 1) -> str:
  mean, se = mean_se
  return f"{scale * mean:.{digits}f} +- {scale * se:.{digits}f}"


def table_rows(results: dict) -> list[tuple]:
  rows = []
  for (dataset, label), cell in results["cells"].items():
    s = cell["summary"]
    rows.append((dataset, label, cell["setting"]["seeds"], f"{cell['steps']:,}",
                 f"{cell['seconds']:.0f} s", _pm(s["modes"]), _pm(s["high_quality"], 100),
                 _pm(s["reverse_kl"], digits=2), sum(d >= 0 for d in cell["diverged_at"])))
    published = PUBLISHED.get((dataset, label))
    if published:
      m, hq, kl = published
      rows.append((dataset, f"published: {label}", 10, "400,000", "-", _pm(m), _pm(hq),
                   _pm(kl, digits=2) if kl else "-", "-"))
  for dataset, r in results["real_data"].items():
    rows.append((dataset, "real data", "-", "-", "-", r["modes"],
                 f"{100 * r['high_quality']:.1f}", f"{r['reverse_kl']:.3f}", "-"))
  return rows


def write(out: pathlib.Path, results: dict, figures: list[str], seconds: float,
          quick: bool) -> dict:
  cells = results["cells"]
  gan = next(c for (_, label), c in cells.items() if label == "GAN")
  gan_ring = cells.get(("2D-ring", "GAN"))
  wgan = next((c for (_, label), c in cells.items() if label.startswith("WGAN-GP")), None)
  r1 = next((c for (_, label), c in cells.items() if "R1" in label), None)
  text = common.render(
      TEMPLATE, pool=f"{POOL:,}", batch=BATCH, grid_scale=SCALE["2D-grid"], n_eval=N_EVAL,
      seeds=results["settings"]["seeds"], width=results["settings"]["width"],
      gan_steps=f"{gan['steps']:,}",
      gan_ring_steps=f"{gan_ring['steps']:,}" if gan_ring else "(not run)",
      gan_lr=gan["setting"]["overrides"]["g_optimizer.learning_rate"],
      wgan_steps=wgan["steps"] if wgan else "(not run)",
      wgan_lr=wgan["setting"]["overrides"]["g_optimizer.learning_rate"] if wgan else "-",
      gp_weight=wgan["setting"]["overrides"]["penalty.weight"] if wgan else "-",
      r1_weight=r1["setting"]["overrides"]["penalty.weight"] if r1 else "(not run)",
      r1_steps=r1["steps"] if r1 else "(not run)",
      r1_lr=r1["setting"]["overrides"]["g_optimizer.learning_rate"] if r1 else "-",
      device=gan.get("device", common.device_description()), figure=figures[0],
      cell_seconds=f"{sum(c['seconds'] for c in cells.values()):,.0f}",
      probes=common.md_table(["method", "lr", "steps", "modes", "high quality (%)",
                              "reverse KL"], PROBES),
      table=common.md_table(["data", "method", "seeds", "steps", "wall time", "modes",
                             "high quality (%)", "reverse KL", "diverged"],
                            table_rows(results)))
  return common.write_report(out, "Mode coverage on the 2-D grid and ring", [text], results,
                             figures, seconds, quick)
