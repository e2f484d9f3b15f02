"""A tiny configuration for tests and CI: a few steps of a small WGAN-GP."""

from jaxgan import config as default


def get_config():
  c = default.get_config()
  c.data.batch_size = 16
  c.model.width = 16
  c.model.depth = 2
  c.train.steps = 6
  c.train.n_critic = 2
  c.train.log_every = 2
  c.train.plot_every = 3
  c.train.checkpoint_every = 3
  c.train.eval_samples = 200
  return c
