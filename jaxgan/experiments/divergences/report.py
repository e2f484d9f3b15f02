"""KL(p||q) vs KL(q||p), the report."""

from __future__ import annotations

import math
import pathlib

from jaxgan.experiments import common
from jaxgan.experiments.divergences.measure import INITS, MOMENT_STD

TEMPLATE = """\
Claim (Goodfellow 2016, sec. 3.2.5, fig. 14): fitting one Gaussian to a bimodal p,
KL(p || q) gives a broad q between the modes (moment matching), KL(q || p) a q that locks
onto one mode (mode seeking).

## Setup
- p: 'mog1d' = 0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2); q = N(m, s^2), s = exp(log_s).
- Adam (optax), lr $lr with cosine decay, $steps steps, $n Monte Carlo samples per step:
  samples of p for KL(p||q), reparameterised samples of q for KL(q||p).
- Starts (m0, s0): $starts.
- Reported KLs are exact (trapezoid quadrature on 12,001 points in [-12, 12]).

## Results
$table

Theory: KL(p||q) -> m = 0, s = $moment_std; KL(q||p) -> m = +-2 (the mode on the start's
side), s ~ 0.5, KL(q||p) ~ log 2 = $log2.

Reference points (quadrature):

$reference

Best fit of each objective (lowest value over the starts): KL(p||q): m = $fm, s = $fs;
KL(q||p): m = $rm, s = $rs, KL(q||p) = $rkl.

KL(q||p) also has a stationary point at m = 0, s = $cs (a broad q straddling both modes),
value $ckl, Hessian eigenvalues in (m, log s) $eig0, $eig1 ($kind). Runs of KL(q||p) that
ended there (s > 1): $stuck of $n_starts. Mode seeking is what the global minimiser does;
a start near the centre can stall between the modes.

![fits]($figure)

Top: p_data and the fitted q from every start. Bottom: each divergence over (m, s) with
the optimisation paths (white) and end points (red).
"""


def write(out: pathlib.Path, results: dict, figures: list[str], seconds: float,
          quick: bool) -> dict:
  fb, rb = results["forward_best"], results["reverse_best"]
  cs = results["reverse_central_stationary"]
  rows = [(direction, f"({f['init'][0]}, {math.exp(f['init'][1]):.1f})", f["m"], f["s"],
           f["kl_p_q"], f["kl_q_p"]) for direction in ("forward", "reverse")
          for f in results[direction]]
  eig = cs["hessian_eigenvalues"]
  text = common.render(
      TEMPLATE, **results["settings"],
      starts=", ".join(f"({m}, {math.exp(s):.0f})" for m, s in INITS),
      table=common.md_table(["minimised", "start (m0, s0)", "m", "s", "KL(p||q)", "KL(q||p)"],
                            rows),
      moment_std=f"{MOMENT_STD:.3f}", log2=f"{math.log(2):.3f}",
      reference=common.md_table(["q", "KL(p||q)", "KL(q||p)"],
                                [(k, *v) for k, v in results["reference_kl"].items()]),
      fm=f"{fb['m']:.3f}", fs=f"{fb['s']:.3f}", rm=f"{rb['m']:.3f}", rs=f"{rb['s']:.3f}",
      rkl=f"{rb['kl_q_p']:.4f}", cs=f"{cs['s']:.3f}", ckl=f"{cs['kl_q_p']:.4f}",
      eig0=f"{eig[0]:.3g}", eig1=f"{eig[1]:.3g}",
      kind="positive: a local minimum, worse than the single-mode fits" if min(eig) > 0
      else "a saddle",
      stuck=sum(f["s"] > 1.0 for f in results["reverse"]), n_starts=len(INITS),
      figure=figures[0])
  return common.write_report(out, "KL(p||q) vs KL(q||p): moment matching vs mode seeking",
                             [text], results, figures, seconds, quick)
