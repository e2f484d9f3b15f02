"""The original GAN with the non-saturating generator cost on a 2-D toy set.

One discriminator step per generator step, simultaneous updates (the tutorial's
simultaneous gradient descent), Adam 1e-4 with beta1 0.5.
"""

from jaxgan import config as default


def get_config():
  c = default.get_config()
  c.loss.game = "non_saturating"
  c.penalty.name = "none"
  c.penalty.weight = 0.0
  c.train.n_critic = 1
  c.train.mode = "simultaneous"
  c.train.steps = 10000
  c.train.plot_every = 2500
  c.train.checkpoint_every = 2500
  for opt in (c.g_optimizer, c.d_optimizer):
    opt.b2 = 0.999
  return c
