"""Command line: FID, Inception Score, KID, precision/recall/density/coverage, statistics.

    python -m jaxgan.metrics fid PATH1 PATH2      # folders / .npz images / .npz statistics
    python -m jaxgan.metrics stats PATH OUT.npz   # pytorch-fid-compatible mu/sigma file
    python -m jaxgan.metrics is PATH              # Inception Score, 10 splits
    python -m jaxgan.metrics kid PATH1 PATH2      # KID, 100 subsets of 1000
    python -m jaxgan.metrics prdc REAL FAKE       # precision, recall (k=3), density, coverage (k=5)

``--mode pytorch|tf1|clean`` chooses the preprocessing (``jaxgan.metrics.preprocess``):
pytorch-fid's (the default), the original TF FID's (TTUR) or clean-fid's; only scores of
the same mode compare. ``stats`` records the mode, the SHA-256 of the Inception weights,
the image size and N in its file, and ``fid`` refuses two sides that were made
differently (naming the difference); a plain pytorch-fid or TTUR file (mu and sigma
only) is accepted with a warning.

A PATH is a folder of images (png, jpg, ...; all of one size), an .npz of images
(uint8 (N, H, W[, C]) under ``x_train`` or as its first array), or, for ``fid``, an .npz
of statistics with ``mu`` and ``sigma`` (pytorch-fid's format). The FID Inception
weights come from ``--weights PATH`` or the cache (``jaxgan.inception_weights``); they
are downloaded only with ``--allow-download``. ``--random-weights`` gives numbers that
mean nothing, for smoke tests.

``fid`` prints N, the number of images behind each side, with the score (and returns it
as ``n1``, ``n2``; ``--json`` writes the results), and warns when N < 2048 (or < the
feature dimension): the FID estimator is biased upwards, the more so the smaller N, so
only scores at equal N compare. Statistics files written by ``stats`` record N;
pytorch-fid's do not ("N unknown"). Bad input (missing or undecodable files, NaN
images, statistics that are not a mean and covariance) ends with one line on stderr and
exit status 2.
"""

from __future__ import annotations

import argparse
import functools
import json
import pathlib
import sys
import warnings

from jaxgan import inception_weights
from jaxgan.metrics import evaluate
from jaxgan.metrics.frechet import frechet_distance
from jaxgan.metrics.inception_score import inception_score
from jaxgan.metrics.kid import kernel_inception_distance
from jaxgan.metrics.prdc import BLOCK_SIZE, K_DC, K_PR, check_sizes, prdc
from jaxgan.metrics.preprocess import DEFAULT_MODE, MODES
from jaxgan.metrics.statistics import Provenance, Statistics, check_comparable, save_statistics
from jaxgan.nets.inception import FEATURE_DIM

_BANNER = ("\n" + "!" * 78 + "\n!! RANDOM INCEPTION WEIGHTS: these numbers are NOT FID / IS / KID "
           "values.\n!! Use --random-weights for smoke tests only.\n" + "!" * 78 + "\n")


def positive_int(text: str) -> int:
  """argparse type: an integer >= 1 (a negative --max-images would count from the end)."""
  try:
    value = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
  if value < 1:
    raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
  return value


def common_options() -> argparse.ArgumentParser:
  """The options shared by every command that runs the Inception (a parent parser)."""
  common = argparse.ArgumentParser(add_help=False)
  common.add_argument("--batch-size", type=positive_int, default=50,
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
  common.add_argument("--max-images", type=positive_int, default=None,
                      help="use at most this many images of each source")
  common.add_argument("--precision", default="highest", choices=("highest", "high", "default"),
                      help="matmul/conv precision on accelerators (default highest)")
  common.add_argument("--mode", default=DEFAULT_MODE, choices=MODES,
                      help="preprocessing: pytorch (pytorch-fid, default), tf1 (the original "
                           "TF FID, TTUR) or clean (clean-fid); scores compare only within "
                           "one mode")
  common.add_argument("--no-progress", action="store_true", help="no progress bar")
  return common


def _parser() -> argparse.ArgumentParser:
  common = common_options()
  parser = argparse.ArgumentParser(prog="python -m jaxgan.metrics", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="command", required=True)
  p = sub.add_parser("fid", parents=[common], help="Frechet Inception Distance")
  p.add_argument("paths", nargs=2, metavar="PATH")
  p.add_argument("--json", default=None, metavar="OUT.json",
                 help="also write the results (with N) to this file")
  p = sub.add_parser("stats", parents=[common], help="save mu/sigma of a set of images")
  p.add_argument("path", metavar="PATH")
  p.add_argument("out", metavar="OUT.npz")
  p = sub.add_parser("is", parents=[common], help="Inception Score")
  p.add_argument("path", metavar="PATH")
  p.add_argument("--splits", type=positive_int, default=10)
  p.add_argument("--shuffle-seed", type=int, default=None,
                 help="shuffle the images before the splits (torch-fidelity uses 2020); "
                      "default: no shuffling, as the original code")
  p.add_argument("--json", default=None, metavar="OUT.json", help="also write the results")
  p = sub.add_parser("kid", parents=[common], help="Kernel Inception Distance")
  p.add_argument("paths", nargs=2, metavar="PATH")
  p.add_argument("--subsets", type=positive_int, default=100)
  p.add_argument("--subset-size", type=positive_int, default=1000)
  p.add_argument("--json", default=None, metavar="OUT.json", help="also write the results")
  p = sub.add_parser("prdc", parents=[common], help="precision, recall, density, coverage")
  p.add_argument("real", metavar="REAL", help="real images (folder or .npz)")
  p.add_argument("fake", metavar="FAKE", help="generated images (folder or .npz)")
  p.add_argument("--k-pr", type=positive_int, default=K_PR, help=f"k of precision/recall ({K_PR})")
  p.add_argument("--k-dc", type=positive_int, default=K_DC, help=f"k of density/coverage ({K_DC})")
  p.add_argument("--block-size", type=positive_int, default=BLOCK_SIZE,
                 help=f"rows and columns per block of distances ({BLOCK_SIZE})")
  p.add_argument("--json", default=None, metavar="OUT.json", help="also write the results")
  return parser


def extractor_from_args(args) -> evaluate.FeatureExtractor:
  """The Inception feature extractor that ``common_options`` describe."""
  if args.random_weights:
    print(_BANNER, file=sys.stderr)
    variables = inception_weights.random_variables(0)
  else:
    variables = inception_weights.load_fid_inception(
        args.weights, cache_dir=args.cache_dir, allow_download=args.allow_download)
  return evaluate.FeatureExtractor(variables, args.batch_size, precision=args.precision,
                                   mode=args.mode)


def _images(path: str, args) -> evaluate.ImageSource:
  source = evaluate.open_source(path, args.max_images)
  if not isinstance(source, evaluate.ImageSource):
    raise evaluate.SourceError(f"{path}: holds statistics (mu, sigma); '{args.command}' "
                               "needs images")
  return source


def _features(source: evaluate.ImageSource, extractor, args, **keep) -> evaluate.Features:
  return evaluate.source_features(source, extractor, not args.no_progress, **keep)


def format_score(value: float) -> str:
  """'%.6f', except for a negative value beyond rounding (never shown as -0.000000)."""
  return f"{value:.6e}" if value < 0 else f"{value:.6f}"


def small_n_warning(counts: list[int | None], dim: int, singular: bool) -> str | None:
  """One line when the FID rests on few images (N < max(2048, d)), else None.

  The FID estimator is biased upwards, roughly by k / N (Chong & Forsyth 2020,
  "Effectively unbiased FID and Inception Score", arXiv:1911.07023), and N <= d makes
  the covariance singular.
  """
  limit = max(FEATURE_DIM, dim)
  known = [n for n in counts if n is not None]
  if known and min(known) < limit:
    return (f"warning: FID from N = {min(known)} < {limit} images is biased upwards (the more, "
            "the smaller N); compare scores only at equal N")
  if singular:
    return (f"warning: a covariance is singular (N <= {dim} images?): this FID is strongly "
            "biased upwards; compare scores only at equal N")
  return None


def fid_of(stats: list[Statistics], paths: list[str]) -> tuple[float, bool]:
  """(FID, whether a covariance was singular); that warning is left to small_n_warning."""
  names = tuple(f"{p}: {k}" for p in paths for k in ("mu", "sigma"))
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    fid = frechet_distance(stats[0].mu, stats[0].sigma, stats[1].mu, stats[1].sigma,
                           names=names)
  singular = [w for w in caught if "is singular" in str(w.message)]
  for w in caught:
    if w not in singular:
      warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
  return fid, bool(singular)


def planned_provenance(source, mode: str) -> Provenance:
  """What is known before the Inception runs: a file's record, or the mode and size."""
  if isinstance(source, Statistics):
    return source.provenance
  return Provenance(mode, None, source.image_size)


def print_lines(lines: list[str]) -> None:
  for line in lines:
    print(line, file=sys.stderr)


def _fid(args) -> dict:
  sources = [evaluate.open_source(p, args.max_images) for p in args.paths]
  # Refuses different modes or image sizes before any image goes through the Inception.
  check_comparable(*(planned_provenance(s, args.mode) for s in sources), tuple(args.paths))
  get_extractor = functools.cache(lambda: extractor_from_args(args))  # Built once, if needed.
  stats = [evaluate.source_statistics(s, get_extractor, not args.no_progress) for s in sources]
  print_lines(check_comparable(*stats, tuple(args.paths)))
  fid, singular = fid_of(stats, args.paths)
  counts = [s.n for s in stats]
  shown = " and ".join("unknown" if n is None else str(n) for n in counts)
  print(f"N = {shown} images, FID: {format_score(fid)}")  # The score last, for parsers.
  line = small_n_warning(counts, stats[0].mu.shape[0], singular)
  if line:
    print(line, file=sys.stderr)
  return {"fid": fid, "n1": counts[0], "n2": counts[1]}


def _stats(args) -> dict:
  features = _features(_images(args.path, args), extractor_from_args(args), args)
  save_statistics(args.out, features.stats.mean(), features.stats.covariance(), features.count,
                  features.provenance)
  print(f"Saved mu and sigma of {features.count} images to {args.out} "
        f"({features.provenance.describe()})")
  return {"n": features.count, "out": args.out}


def _is(args) -> dict:
  source = _images(args.path, args)
  if source.count < args.splits:  # Before the Inception runs.
    raise ValueError(f"{args.path}: {source.count} images for {args.splits} splits; the "
                     "Inception Score needs at least one image per split (lower --splits)")
  features = _features(source, extractor_from_args(args), args, keep_logits=True)
  mean, std = inception_score(features.logits, args.splits, args.shuffle_seed)
  shuffled = "" if args.shuffle_seed is None else f", shuffled with seed {args.shuffle_seed}"
  print(f"IS: {mean:.6f} +- {std:.6f}  (N = {features.count} images, {args.splits} splits"
        f"{shuffled})")
  return {"is_mean": mean, "is_std": std, "n": features.count,
          "shuffle_seed": args.shuffle_seed}


def format_prdc(scores: dict, n_real: int, n_fake: int) -> str:
  return (f"precision: {scores['precision']:.6f}  recall: {scores['recall']:.6f}  "
          f"density: {scores['density']:.6f}  coverage: {scores['coverage']:.6f}  "
          f"(N = {n_real} real and {n_fake} fake images)")


def _prdc(args) -> dict:
  sources = [_images(p, args) for p in (args.real, args.fake)]
  check_sizes(sources[0].count, sources[1].count, args.k_pr, args.k_dc)  # Before the Inception.
  extractor = extractor_from_args(args)
  real, fake = (_features(s, extractor, args, keep_pool3=True).pool3 for s in sources)
  scores = prdc(real=real, fake=fake, k_pr=args.k_pr, k_dc=args.k_dc,
                block_size=args.block_size)
  print(format_prdc(scores, len(real), len(fake)))
  return {**scores, "k_pr": args.k_pr, "k_dc": args.k_dc, "n_real": len(real),
          "n_fake": len(fake), "mode": args.mode}


def run(argv: list[str] | None = None) -> dict:
  """Runs one command; returns its results (also printed)."""
  args = _parser().parse_args(argv)
  if args.command == "fid":
    result = _fid(args)
  elif args.command == "stats":
    result = _stats(args)
  elif args.command == "is":
    result = _is(args)
  elif args.command == "prdc":
    result = _prdc(args)
  else:  # kid
    extractor = extractor_from_args(args)
    f1, f2 = (_features(_images(p, args), extractor, args, keep_pool3=True).pool3
              for p in args.paths)
    mean, std = kernel_inception_distance(f1, f2, args.subsets, args.subset_size)
    result = {"kid_mean": mean, "kid_std": std, "n1": len(f1), "n2": len(f2)}
    print(f"KID: {mean:.6f} +- {std:.6f}  (N = {len(f1)} and {len(f2)} images)")
  if getattr(args, "json", None):
    pathlib.Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
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
