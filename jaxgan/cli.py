"""The ``jaxgan`` command: ``train``, ``sweep``, ``sample``, ``evaluate`` and the metrics.

    jaxgan train --config configs/toy_wgan_gp.py --workdir runs/x [--config.train.steps=500]
    jaxgan sweep --workdir runs/s --sweep seed=0:8 --sweep penalty.weight=0.1,1,10 [--config ...]
    jaxgan sample --workdir runs/x --out samples.png [-n 64] [--step 2000] [--no-ema]
                  [--variant N]   # N: a variant of a sweep
    jaxgan evaluate --workdir runs/x --ref stats.npz [-n 10000] [--variant N]   # FID + IS
    jaxgan fid PATH1 PATH2 | stats PATH OUT.npz | is PATH | kid PATH1 PATH2 | prdc REAL FAKE
    jaxgan prepare SRC DST --resolution 64 [--filter ...]   # ArrayRecord shards for grain

Errors in the input (config files and fields, data, checkpoints, a workdir in use, memory
that the settings exceed) are reported in one line and exit with status 2; a run that
diverged (or skipped more than half of its steps) exits with 1; a run stopped by
SIGTERM/SIGINT exits with 128 + signal.
"""

from __future__ import annotations

import argparse
import functools
import json
import pathlib
import sys
import traceback

import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

from jaxgan import config as config_lib
from jaxgan.checkpoint import CheckpointError
from jaxgan.data.images import DataError, to_uint8
from jaxgan.validation import ConfigError, check_field
from jaxgan.workdir_lock import WorkdirLocked

DEFAULT_CONFIG = str(pathlib.Path(config_lib.__file__).resolve())  # Its get_config().
METRICS = ("fid", "stats", "is", "kid", "prdc")
INPUT_ERROR, FAILED = 2, 1  # Exit statuses: bad input (usage, config, data, workdir); a failed run.


def fail(message: str, status: int = INPUT_ERROR):
  """Prints ``error: message`` on stderr and exits with ``status``."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(status)


def _define_train_flags() -> None:
  if "workdir" in flags.FLAGS:
    return
  config_flags.DEFINE_config_file("config", DEFAULT_CONFIG,
                                  "Path to a config file (ml_collections).", lock_config=True)
  flags.DEFINE_string("workdir", "runs/default", "Where metrics, pictures and checkpoints "
                      "go; an existing run there is resumed.")


def _config_arg(argv: list[str]) -> str | None:
  """The config file named by ``--config=PATH[:args]`` or ``--config PATH``, if any."""
  for i, arg in enumerate(argv):
    path = arg.split("=", 1)[1] if arg.startswith("--config=") else (
        argv[i + 1] if arg == "--config" and i + 1 < len(argv) else None)
    if path is not None:
      return path.split(":", 1)[0]
  return None


def _config_file_error(path: str, e: BaseException) -> str:
  """One line for an exception raised while loading the config file ``path``."""
  if isinstance(e, SyntaxError) and e.filename and e.lineno:
    return f"config file {e.filename}, line {e.lineno}: {e.msg}"
  if isinstance(e, AttributeError) and getattr(e, "name", None) == "get_config":
    return (f"config file {path} defines no get_config(); it should return "
            "jaxgan.config.get_config() with some fields changed")
  target = pathlib.Path(path).resolve()
  lines = [f.lineno for f in traceback.extract_tb(e.__traceback__)
           if pathlib.Path(f.filename).resolve() == target]
  where = f", line {lines[-1]}" if lines else ""
  text = " ".join(str(e).split())
  return f"config file {path}{where}: {type(e).__name__}: {text}"


def _parse_train_flags(argv: list[str]):
  """absl's parser, with a bad config file or override reported in one line (exit 2)."""
  path = _config_arg(argv)
  if path is not None and not pathlib.Path(path).is_file():
    fail(f"config file {path} does not exist")
  try:
    for arg in argv[1:]:
      if arg.startswith("--config."):
        check_field(arg[len("--config."):].split("=", 1)[0])
    rest = flags.FLAGS(argv)
  except (ConfigError, flags.Error) as e:
    fail(str(e))
  except Exception as e:  # noqa: BLE001 - the user's config file raised while loading.
    fail(_config_file_error(path or DEFAULT_CONFIG, e))
  try:
    config = flags.FLAGS.config
  except Exception as e:  # noqa: BLE001 - ml_collections defers some load errors to here.
    fail(_config_file_error(path or DEFAULT_CONFIG, e))
  if not isinstance(config, ml_collections.ConfigDict):
    fail(f"config file {path}: get_config() returned a {type(config).__name__}, not an "
         "ml_collections.ConfigDict; return jaxgan.config.get_config() with fields changed")
  return rest


def _train_main(argv: list[str]) -> None:
  from jaxgan.train import DivergenceError, TrainingInterrupted, train_and_evaluate
  if len(argv) > 1:
    fail(f"unexpected arguments: {' '.join(argv[1:])} (config fields are set as "
         "--config.train.steps=500)")
  if not flags.FLAGS["verbosity"].present:  # Keep orbax's INFO chatter out of the console.
    logging.set_verbosity(logging.WARNING)
  try:
    train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir)
  except (ConfigError, CheckpointError, DataError, WorkdirLocked) as e:
    fail(str(e))
  except DivergenceError as e:
    fail(str(e), FAILED)
  except (FileExistsError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
          PermissionError) as e:  # A --workdir or data path that cannot be used.
    fail(" ".join(str(e).split()))
  except OSError as e:  # A full disk, a failing device: the run failed, not its input.
    fail(" ".join(str(e).split()), FAILED)
  except TrainingInterrupted as e:
    print(e, file=sys.stderr)
    sys.exit(128 + e.signum)


def _importable_configs(argv: list[str]) -> None:
  """Lets a config file import its siblings as ``from configs import x`` (as in Flax's examples).

  The folder that holds the config's folder goes on ``sys.path``, wherever the command
  runs from; ``configs/`` is a folder of user files, not an installed package.
  """
  path = _config_arg(argv)
  if path:
    root = str(pathlib.Path(path).resolve().parent.parent)
    if root not in sys.path:
      sys.path.insert(0, root)


def train(argv: list[str]) -> None:
  """``jaxgan train`` / ``python train.py``: argv[0] is the program name."""
  _define_train_flags()
  _importable_configs(argv)
  app.run(_train_main, argv=argv, flags_parser=_parse_train_flags)


def _sweep_main(argv: list[str]) -> None:
  from jaxgan.sweep.grid import SweepError
  from jaxgan.sweep.run import run_sweep
  from jaxgan.train import TrainingInterrupted
  if len(argv) > 1:
    fail(f"unexpected arguments: {' '.join(argv[1:])} (axes are given as --sweep "
         "field=values, config fields as --config.train.steps=500)")
  if not flags.FLAGS["workdir"].present:
    fail("jaxgan sweep needs --workdir (the sweep's own directory)")
  if not flags.FLAGS.sweep:
    fail("give at least one axis: --sweep field=values (e.g. --sweep seed=0:8)")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  try:
    run_sweep(flags.FLAGS.config, flags.FLAGS.workdir, flags.FLAGS.sweep)
  except (SweepError, ConfigError, CheckpointError, DataError, WorkdirLocked) as e:
    fail(str(e))
  except (FileExistsError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
          PermissionError) as e:
    fail(" ".join(str(e).split()))
  except TrainingInterrupted as e:
    print(e, file=sys.stderr)
    sys.exit(128 + e.signum)


def sweep(argv: list[str]) -> None:
  """``jaxgan sweep``: a grid of runs (``jaxgan.sweep``); argv[0] is the program name."""
  _define_train_flags()
  if "sweep" not in flags.FLAGS:
    flags.DEFINE_multi_string("sweep", [], "An axis of the grid: field=v1,v2,... or seed=a:b; "
                              "repeat for more axes (the grid is their product).")
  _importable_configs(argv)
  app.run(_sweep_main, argv=argv, flags_parser=_parse_train_flags)


def sample(argv: list[str]) -> None:
  """``jaxgan sample``: draws from the generator of a run's checkpoint into PNG or npz."""
  parser = argparse.ArgumentParser(prog="jaxgan sample", description=sample.__doc__)
  parser.add_argument("--workdir", required=True, help="a run directory written by train")
  parser.add_argument("--out", required=True, help="output .png (picture) or .npz (arrays)")
  parser.add_argument("-n", type=int, default=64, help="number of samples")
  parser.add_argument("--step", type=int, default=None, help="checkpoint step (latest)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--no-ema", action="store_true", help="use G's raw parameters")
  parser.add_argument("--variant", type=int, default=None, help="a sweep's variant (index)")
  args = parser.parse_args(argv)
  logging.set_verbosity(logging.WARNING)
  try:
    _sample(args)
  except (ConfigError, CheckpointError, DataError, FileNotFoundError, ValueError) as e:
    fail(str(e))


def _restore_run(workdir_arg: str, step: int | None, variant: int | None = None):
  """(config, train state, data shape, number of classes) of a run's checkpoint, or of a
  variant of a sweep's."""
  from jaxgan import checkpoint
  from jaxgan.resume import read_json
  from jaxgan.sweep import restore as sweep_restore

  workdir = pathlib.Path(workdir_arg)
  if sweep_restore.is_sweep(workdir):
    if variant is None:
      raise ConfigError(f"{workdir} is a sweep: pass --variant N (its variants are listed in "
                        f"{workdir / 'sweep.json'})")
    return sweep_restore.restore_variant(workdir, variant, step)
  if variant is not None:
    raise ConfigError(f"--variant is for sweeps, and {workdir} is a single run")
  for name in ("config.json", "data.json"):
    if not (workdir / name).exists():
      raise FileNotFoundError(f"{workdir / name} is missing: is {workdir} a jaxgan run?")
  saved, data = read_json(workdir / "config.json"), read_json(workdir / "data.json")
  config = config_lib.get_config()  # Fields newer than the run keep their defaults.
  try:
    with config.ignore_type():
      config.update(saved)
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    raise ConfigError(f"{workdir / 'config.json'} is not a jaxgan config ({e})") from None
  try:
    shape, num_classes = tuple(map(int, data["shape"])), int(data["num_classes"])
  except (KeyError, TypeError, ValueError) as e:
    raise ConfigError(f"{workdir / 'data.json'} lacks the data's shape or classes "
                      f"({type(e).__name__}: {e})") from None
  state = config_lib.initial_state(config, shape, num_classes)
  manager = checkpoint.make_manager(workdir / "checkpoints", config.train.keep_checkpoints)
  if step is not None and step not in manager.all_steps():
    raise CheckpointError(f"no checkpoint of step {step}; have {manager.all_steps()}")
  state = checkpoint.restore_latest(manager, state, step=step)
  if int(state.step) == 0:
    raise CheckpointError(f"no checkpoint in {workdir / 'checkpoints'}")
  return config, state, shape, num_classes


def _sample(args) -> None:
  import jax
  import jax.numpy as jnp
  import numpy as np

  from jaxgan import plotting

  workdir = pathlib.Path(args.workdir)
  if args.n < 1 or pathlib.Path(args.out).suffix not in (".png", ".npz"):
    raise ValueError("need -n >= 1 and --out ending in .png or .npz")
  config, state, shape, num_classes = _restore_run(args.workdir, args.step, args.variant)
  conditional = bool(config.model.conditional_g)
  labels = (jnp.arange(args.n) % num_classes) if conditional else None
  x = np.asarray(state.sample(jax.random.key(args.seed), args.n, labels, not args.no_ema))
  if args.out.endswith(".npz"):
    arrays = {"x": x}
    if len(shape) == 3:  # Images as uint8, the layout the metrics CLI reads.
      arrays = {"x": to_uint8(x)}
    if labels is not None:
      arrays["y"] = np.asarray(labels)
    np.savez(args.out, **arrays)
  elif len(shape) == 3:
    rows = min(num_classes, args.n) if conditional else max(1, int(np.sqrt(args.n)))
    if conditional:  # One row per class.
      order = np.argsort(np.asarray(labels), kind="stable")
      x = x[order]
    plotting.save_image_grid(args.out, x, rows, f"{workdir.name}, step {int(state.step)}")
  else:
    plotting.plot_toy(args.out, x[:0], x, title=f"{workdir.name}, step {int(state.step)}")
  print(f"wrote {args.n} samples of step {int(state.step)} to {args.out}")


def evaluate(argv: list[str]) -> None:
  """``jaxgan evaluate``: FID and IS of a run's generator, sampled on device (no files)."""
  from jaxgan.inception_weights import WeightsError
  from jaxgan.metrics.__main__ import common_options

  parser = argparse.ArgumentParser(prog="jaxgan evaluate", parents=[common_options()],
                                   description=evaluate.__doc__)
  parser.add_argument("--workdir", required=True, help="a run directory written by train")
  parser.add_argument("--ref", default=None, help="reference for FID: statistics .npz "
                      "(mu, sigma), an .npz of images or a folder of images")
  parser.add_argument("-n", type=int, default=10000, help="generated images (default 10000)")
  parser.add_argument("--step", type=int, default=None, help="checkpoint step (latest)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--no-ema", action="store_true", help="use G's raw parameters")
  parser.add_argument("--splits", type=int, default=10, help="Inception Score splits")
  parser.add_argument("--out", default=None, help="also write the results to this .json")
  parser.add_argument("--variant", type=int, default=None, help="a sweep's variant (index)")
  parser.add_argument("--prdc", action="store_true", help="also precision, recall, density "
                      "and coverage against --ref images")
  parser.add_argument("--per-class", action="store_true", help="also the FID of each class "
                      "against --ref images of that class (a labelled .npz)")
  args = parser.parse_args(argv)
  logging.set_verbosity(logging.WARNING)
  try:
    _evaluate(args)
  except (ConfigError, CheckpointError, DataError, FileNotFoundError, ValueError,
          WeightsError) as e:  # DataError is also the metrics' SourceError.
    fail(str(e))


def _evaluate(args) -> None:
  import jax

  from jaxgan.metrics import evaluate as ev, reference as against
  from jaxgan.metrics.__main__ import extractor_from_args, print_lines
  from jaxgan.metrics.inception_score import inception_score

  config, state, shape, num_classes = _restore_run(args.workdir, args.step, args.variant)
  if len(shape) != 3:
    raise ValueError(f"{args.workdir} trains on {shape}-shaped data; FID and IS need images")
  if args.n < 2:
    raise ValueError(f"-n must be at least 2, got {args.n}")
  reference = ev.open_source(args.ref, args.max_images) if args.ref else None
  conditional = bool(config.model.conditional_g)
  use_ema = not args.no_ema

  @functools.partial(jax.jit, static_argnums=2)
  def draw(state, key, n):
    k_z, k_y = jax.random.split(key)
    labels = jax.random.randint(k_y, (n,), 0, num_classes) if conditional else None
    return state.sample(k_z, n, labels, use_ema), labels

  extractor = extractor_from_args(args)
  against.check_reference(reference, extractor, shape[:2], prdc=args.prdc,
                          per_class=args.per_class, conditional=conditional)
  features = ev.generator_features(lambda key, n: draw(state, key, n), jax.random.key(args.seed),
                                   args.n, extractor, keep_logits=True,
                                   keep_pool3=args.prdc or args.per_class,
                                   progress=not args.no_progress)
  mean, std = inception_score(features.logits, args.splits)
  result = {"step": int(state.step), "n": features.count, "is_mean": mean, "is_std": std}
  if reference is not None:
    scores, lines = against.against_reference(features, reference, extractor, prdc=args.prdc,
                                              per_class=args.per_class,
                                              progress=not args.no_progress)
    result.update(scores)  # fid, n_ref (None for pytorch-fid's files), mode, ...
    print_lines(lines)
  print(json.dumps(result))
  if args.out:
    pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
  argv = sys.argv[1:] if argv is None else argv
  commands = ("train", "sweep", "sample", "evaluate", "prepare") + METRICS
  if not argv or argv[0] not in commands:
    print(__doc__, file=sys.stderr)
    fail(f"the first argument must be one of: {', '.join(commands)}")
  command, rest = argv[0], argv[1:]
  if command == "train":
    train([f"jaxgan {command}", *rest])
  elif command == "sweep":
    sweep([f"jaxgan {command}", *rest])
  elif command == "sample":
    sample(rest)
  elif command == "evaluate":
    evaluate(rest)
  elif command == "prepare":
    from jaxgan import prepare
    code = prepare.main(rest)
    if code:
      sys.exit(code)
  else:
    from jaxgan.metrics.__main__ import main as metrics_main
    code = metrics_main([command, *rest])
    if code:
      sys.exit(code)


if __name__ == "__main__":
  main()
