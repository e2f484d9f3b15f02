"""Trains a GAN: ``python train.py --config configs/toy_wgan_gp.py --workdir runs/x``.

Any config field can be overridden, e.g. ``--config.train.steps=500``. Without
``--config`` the embedded default (WGAN-GP on 25 Gaussians) is used.
"""

import pathlib
import sys

from absl import app, flags, logging
from ml_collections import config_flags

ROOT = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # So config files can `from configs import default`.

from configs import default  # noqa: E402
from jaxgan.checkpoint import CheckpointError  # noqa: E402
from jaxgan.data.images import DataError  # noqa: E402
from jaxgan.train import DivergenceError, TrainingInterrupted, train_and_evaluate  # noqa: E402
from jaxgan.validation import ConfigError, check_field  # noqa: E402

config_flags.DEFINE_config_file("config", str(ROOT / "configs" / "default.py"),
                                "Path to a config file (ml_collections).",
                                lock_config=True)
flags.DEFINE_string("workdir", "runs/default", "Where metrics, pictures and checkpoints go; "
                    "an existing run there is resumed.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not flags.FLAGS["verbosity"].present:  # Keep orbax's INFO chatter out of the console.
    logging.set_verbosity(logging.WARNING)
  try:
    train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir, schema=default.get_config())
  except (ConfigError, CheckpointError, DataError, DivergenceError) as e:
    sys.exit(f"error: {e}")
  except TrainingInterrupted as e:
    print(e, file=sys.stderr)
    sys.exit(128 + e.signum)


def parse_flags(argv):
  """absl's parser, with bad config overrides reported in one line instead of a traceback."""
  try:
    for arg in argv[1:]:
      if arg.startswith("--config."):
        check_field(arg[len("--config."):].split("=", 1)[0], default.get_config())
    return flags.FLAGS(argv)
  except (ConfigError, flags.Error) as e:
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
