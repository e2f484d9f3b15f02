"""``python -m jaxgan.experiments NAME --out DIR [--quick] [options]``: runs one experiment."""

from __future__ import annotations

import argparse
import json
import sys

from jaxgan.experiments import EXPERIMENTS, get_experiment

# Options that some experiments accept: flag -> (type, help, experiments taking it).
OPTIONS = {
    "width": (int, "hidden width of the toy nets (gan_toy.py: 512)",
              ("wgan_gp_vs_clipping", "mode_coverage")),
    "steps": (int, "generator steps", ("wgan_gp_vs_clipping", "mode_coverage", "stacked_mnist")),
    "depth_width": (int, "width of the 12-layer nets of the depth analysis",
                    ("wgan_gp_vs_clipping",)),
    "seeds": (int, "seeds per method (trained together by the sweep program)",
              ("mode_coverage", "stacked_mnist")),
    "mnist": (str, ".npz with x_train, y_train, x_test, y_test (uint8 MNIST)", ("stacked_mnist",)),
    "features": (int, "DCGAN base feature count (64: full size)", ("stacked_mnist",)),
    "n_eval": (int, "generated samples scored per run (PacGAN: 26,000)", ("stacked_mnist",)),
    "only": (str, "comma-separated methods to run, by slug (e.g. dcgan,dcgan_r1_2x_steps; "
             "default: all)", ("stacked_mnist",)),
}


def parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(
      prog="python -m jaxgan.experiments",
      description="Reproduces one claim of the GAN tutorial or the WGAN-GP paper; writes "
                  "report.md and PNG figures into --out.",
      epilog="experiments:\n" + "\n".join(f"  {k:22s} {v}" for k, v in EXPERIMENTS.items()),
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("name", choices=sorted(EXPERIMENTS), metavar="NAME",
                 help="one of: " + ", ".join(EXPERIMENTS))
  p.add_argument("--out", required=True, help="output folder (created)")
  p.add_argument("--quick", action="store_true", help="tiny CI-sized run")
  for flag, (kind, text, names) in OPTIONS.items():
    p.add_argument(f"--{flag.replace('_', '-')}", dest=flag, type=kind, default=None,
                   help=f"{text} [{', '.join(names)}]")
  return p


def main(argv: list[str] | None = None) -> dict:
  args = parser().parse_args(argv)
  options = {}
  for flag, (_, _, names) in OPTIONS.items():
    value = getattr(args, flag)
    if value is None:
      continue
    if args.name not in names:
      parser().error(f"--{flag.replace('_', '-')} does not apply to {args.name} "
                     f"(only to: {', '.join(names)})")
    options[flag] = value
  results = get_experiment(args.name).run(args.out, quick=args.quick, **options)
  summary = {k: v for k, v in results.items() if k in ("figures", "seconds")}
  print(json.dumps({"experiment": args.name, "out": args.out, **summary}))
  return results


if __name__ == "__main__":
  try:
    main()
  except ValueError as e:  # Bad inputs (missing --mnist, unreadable data): one line, exit 2.
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
