"""WGAN-GP on a 2-D toy set with the reference ``gan_toy.py`` hyperparameters.

3x512 ReLU MLPs, 2-D noise, Adam 1e-4 with betas (0.5, 0.9), 5 critic steps, batch 256,
lambda 0.1 (the script's value; the paper's is 10: --config.penalty.weight=10), 100,000
generator steps. Hours on a CPU; ``configs/default.py`` is the minute-sized variant.
Other sets: --config.data.name=8gaussians|swissroll.
"""

from jaxgan import config as default


def get_config():
  c = default.get_config()
  c.model.width = 512
  for opt in (c.g_optimizer, c.d_optimizer):
    opt.learning_rate = 1e-4
  c.train.steps = 100_000
  c.train.log_every = 500
  c.train.plot_every = 10_000
  c.train.checkpoint_every = 5_000
  return c
