"""WGAN-GP on a 2-D toy set, with the reference gan_toy.py hyperparameters.

Adam 1e-4, betas (0.5, 0.9), 5 critic steps, batch 256, lambda 0.1. Width 128 instead
of 512 keeps it to a few minutes on a CPU; use --config.model.width=512 for the script's
size and --config.data.name=8gaussians|swissroll for the other sets.
"""

from configs import default


def get_config():
  return default.get_config()
