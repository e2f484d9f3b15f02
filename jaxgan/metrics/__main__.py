"""Command line: FID, Inception Score, KID and saved statistics.

    python -m jaxgan.metrics fid PATH1 PATH2      # folders / .npz images / .npz statistics
    python -m jaxgan.metrics stats PATH OUT.npz   # pytorch-fid-compatible mu/sigma file
    python -m jaxgan.metrics is PATH              # Inception Score, 10 splits
    python -m jaxgan.metrics kid PATH1 PATH2      # KID, 100 subsets of 1000

A PATH is a folder of images (png, jpg, ...; all of one size), an .npz of images
(uint8 (N, H, W[, C]) under ``x_train`` or as its first array), or, for ``fid``, an .npz
of statistics with ``mu`` and ``sigma`` (pytorch-fid's format). The FID Inception
weights come from ``--weights PATH`` or the cache (``jaxgan.inception_weights``); they
are downloaded only with ``--allow-download``. ``--random-weights`` gives numbers that
mean nothing, for smoke tests.
"""

from __future__ import annotations

import argparse
import functools
import sys

from jaxgan import inception_weights
from jaxgan.metrics import evaluate
from jaxgan.metrics.frechet import frechet_distance
from jaxgan.metrics.inception_score import inception_score
from jaxgan.metrics.kid import kernel_inception_distance
from jaxgan.metrics.statistics import save_statistics

_BANNER = ("\n" + "!" * 78 + "\n!! RANDOM INCEPTION WEIGHTS: these numbers are NOT FID / IS / KID "
           "values.\n!! Use --random-weights for smoke tests only.\n" + "!" * 78 + "\n")


def common_options() -> argparse.ArgumentParser:
  """The options shared by every command that runs the Inception (a parent parser)."""
  common = argparse.ArgumentParser(add_help=False)
  common.add_argument("--batch-size", type=int, default=50,
                      help="images per batch over all local devices (default 50)")
  common.add_argument("--weights", default=None,
                      help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth")
  common.add_argument("--cache-dir", default=None,
                      help="where weights and their conversion are cached "
                           "(default $JAXGAN_CACHE_DIR or ~/.cache/jaxgan)")
  common.add_argument("--allow-download", action="store_true",
                      help="download the weights from pytorch-fid's release if missing")
  common.add_argument("--random-weights", action="store_true",
                      help="random Inception weights (tests only: results are meaningless)")
  common.add_argument("--max-images", type=int, default=None,
                      help="use at most this many images of each source")
  common.add_argument("--precision", default="highest", choices=("highest", "high", "default"),
                      help="matmul/conv precision on accelerators (default highest)")
  common.add_argument("--no-progress", action="store_true", help="no progress bar")
  return common


def _parser() -> argparse.ArgumentParser:
  common = common_options()
  parser = argparse.ArgumentParser(prog="python -m jaxgan.metrics", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="command", required=True)
  p = sub.add_parser("fid", parents=[common], help="Frechet Inception Distance")
  p.add_argument("paths", nargs=2, metavar="PATH")
  p = sub.add_parser("stats", parents=[common], help="save mu/sigma of a set of images")
  p.add_argument("path", metavar="PATH")
  p.add_argument("out", metavar="OUT.npz")
  p = sub.add_parser("is", parents=[common], help="Inception Score")
  p.add_argument("path", metavar="PATH")
  p.add_argument("--splits", type=int, default=10)
  p = sub.add_parser("kid", parents=[common], help="Kernel Inception Distance")
  p.add_argument("paths", nargs=2, metavar="PATH")
  p.add_argument("--subsets", type=int, default=100)
  p.add_argument("--subset-size", type=int, default=1000)
  return parser


def extractor_from_args(args) -> evaluate.FeatureExtractor:
  """The Inception feature extractor that ``common_options`` describe."""
  if args.random_weights:
    print(_BANNER, file=sys.stderr)
    variables = inception_weights.random_variables(0)
  else:
    variables = inception_weights.load_fid_inception(
        args.weights, cache_dir=args.cache_dir, allow_download=args.allow_download)
  return evaluate.FeatureExtractor(variables, args.batch_size, precision=args.precision)


def _images(path: str, args) -> evaluate.ImageSource:
  source = evaluate.open_source(path, args.max_images)
  if not isinstance(source, evaluate.ImageSource):
    raise evaluate.SourceError(f"{path}: holds statistics (mu, sigma); '{args.command}' "
                               "needs images")
  return source


def _features(source: evaluate.ImageSource, extractor, args, **keep) -> evaluate.Features:
  return evaluate.source_features(source, extractor, not args.no_progress, **keep)


def run(argv: list[str] | None = None) -> dict:
  """Runs one command; returns its results (also printed)."""
  args = _parser().parse_args(argv)
  if args.command == "fid":
    sources = [evaluate.open_source(p, args.max_images) for p in args.paths]
    get_extractor = functools.cache(lambda: extractor_from_args(args))  # Built once, if needed.
    (mu1, s1), (mu2, s2) = (evaluate.mean_and_covariance(s, get_extractor, not args.no_progress)
                            for s in sources)
    result = {"fid": frechet_distance(mu1, s1, mu2, s2)}
    print(f"FID: {result['fid']:.6f}")
  elif args.command == "stats":
    features = _features(_images(args.path, args), extractor_from_args(args), args)
    save_statistics(args.out, features.stats.mean(), features.stats.covariance(),
                    features.count)
    result = {"n": features.count, "out": args.out}
    print(f"Saved mu and sigma of {features.count} images to {args.out}")
  elif args.command == "is":
    features = _features(_images(args.path, args), extractor_from_args(args), args,
                         keep_logits=True)
    mean, std = inception_score(features.logits, args.splits)
    result = {"is_mean": mean, "is_std": std}
    print(f"IS: {mean:.6f} +- {std:.6f}")
  else:  # kid
    extractor = extractor_from_args(args)
    f1, f2 = (_features(_images(p, args), extractor, args, keep_pool3=True).pool3
              for p in args.paths)
    mean, std = kernel_inception_distance(f1, f2, args.subsets, args.subset_size)
    result = {"kid_mean": mean, "kid_std": std}
    print(f"KID: {mean:.6f} +- {std:.6f}")
  return result


def main(argv: list[str] | None = None) -> int:
  try:
    run(argv)
  except (inception_weights.WeightsError, evaluate.SourceError, FileNotFoundError,
          ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
