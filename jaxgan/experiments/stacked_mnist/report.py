"""Stacked MNIST, the report: the measured table beside PacGAN's Table 2."""

from __future__ import annotations

import pathlib

from jaxgan.experiments import common
from jaxgan.experiments.stacked_mnist.classifier import TARGET_ACCURACY

# PacGAN (Lin et al. 2018) Table 2: (modes, KL), mean +- standard error.
PUBLISHED = {"DCGAN": ((78.9, 6.46), (4.50, 0.127)),
             "PacDCGAN2": ((1000.0, 0.00), (0.06, 0.003))}

TEMPLATE = """\
Claim: a DCGAN covers few of stacked MNIST's 1,000 modes; packing (PacDCGAN2) covers all
of them (Lin et al. 2018, Table 2, VEEGAN's setting).

## Protocol
- Data: $source; each example stacks three independent uniform digits as the R, G, B
  channels of a 28 x 28 image (1,000 modes).
- Classifier: the experiment's CNN (`stacked_mnist.classifier`), test accuracy $accuracy
  after $epochs epoch(s), $classifier_seconds s.$accuracy_note
- Score: $n_eval samples per run; each channel labelled; modes = distinct digit triples;
  KL = KL(p_gen || uniform over 1,000 triples). Mean +- standard error over the seeds,
  all seeds of a method trained in one vmapped program (`jaxgan.sweep.program`).
- Nets: the library's `dcgan` for 28x28x3, base features $features (G 100-d Gaussian
  noise -> 7x7 -> 14x14 -> 28x28; D the mirror). Batch 64.
- DCGAN: non-saturating cost, batch norm in both players, Adam 2e-4 (0.5, 0.999), one D
  step per G step; PacDCGAN2: the same with `model.pack = 2`; WGAN-GP: layer norm in the
  critic, lambda 10, 5 critic steps, Adam 1e-4 (0.5, 0.9), a third of the others'
  generator steps (a like CPU budget); SN + hinge: spectral norm in
  every D layer, hinge loss, no D norm, Adam 2e-4 (0.5, 0.999), one D step per G step;
  DCGAN + R1, 2x (6x) steps: the DCGAN with R1 (Mescheder et al. 2018: weight 1 x
  E ||grad D(x)||^2 at the real images, added to D's cost) and twice (six times) its
  generator steps.
- Device: $device; train time per method in the table, $train_seconds s in all (a method
  read back from `runs/` keeps the time of the run that trained it).

## Results
$table

The published rows are PacGAN's Table 2. The real-data row scores $n_eval stacked data
samples with the same classifier (its errors alone move the KL away from 0). "Of digit
frequencies": the part of the KL that the channels' digit frequencies alone account for,
the sum over R, G, B of KL(p_c || uniform over 10); the rest is dependence between the
channels ("-": a row read back from a cache older than this column).

$images
"""


def _pm(mean_se, digits: int) -> str:
  return f"{mean_se[0]:.{digits}f} +- {mean_se[1]:.{digits}f}"


def write(out: pathlib.Path, results: dict, figures: list[str], seconds: float,
          quick: bool) -> dict:
  rows = []
  for label, cell in results["cells"].items():
    s, st = cell["summary"], cell["setting"]
    rows.append((label, st["seeds"], cell["steps"], st["features"], f"{cell['seconds']:.0f} s",
                 _pm(s["modes"], 1), _pm(s["kl"], 3),
                 _pm(s["channel_kl"], 3) if "channel_kl" in s else "-",
                 sum(d >= 0 for d in cell["diverged_at"])))
    if label in PUBLISHED:
      m, kl = PUBLISHED[label]
      rows.append((f"published: {label}", "-", "-", 64, "-", _pm(m, 1), _pm(kl, 3), "-", "-"))
  real = results["real"]
  rows.append(("real stacked data", "-", "-", "-", "-", real["modes"], f"{real['kl']:.3f}",
               f"{real['channel_kl']:.3f}", "-"))
  c = results["classifier"]
  note = ("" if c["accuracy"] >= TARGET_ACCURACY else
          f" **Below the {TARGET_ACCURACY:.0%} target: the mode counts are unreliable.**")
  device = next(iter(results["cells"].values()))["device"] if results["cells"] else "-"
  text = common.render(
      TEMPLATE, source=results["data_source"], accuracy=f"{c['accuracy']:.4f}",
      epochs=f"{c['epochs']:.1f}", classifier_seconds=f"{c['seconds']:.0f}",
      accuracy_note=note, n_eval=f"{results['n_eval']:,}", device=device,
      train_seconds=f"{sum(c['seconds'] for c in results['cells'].values()):,.0f}",
      features=", ".join(sorted({str(x["setting"]["features"])
                                 for x in results["cells"].values()})),
      table=common.md_table(["method", "seeds", "steps", "features", "train time",
                             "modes (of 1000)", "KL to uniform", "of digit frequencies",
                             "diverged"], rows),
      images="\n\n".join(f"![{f}]({f})" for f in figures))
  return common.write_report(out, "Stacked MNIST mode coverage", [text], results, figures,
                             seconds, quick)
