"""WGAN with weight clipping (Arjovsky et al. 2017) on a 2-D toy set.

RMSProp 5e-5, clip 0.01, 5 critic steps, no penalty (the settings of gan_toy.py's
'wgan' mode); the nets and step count of configs/default.py.
"""

from jaxgan import config as default


def get_config():
  c = default.get_config()
  c.penalty.name = "none"
  c.penalty.weight = 0.0
  c.penalty.weight_clip = 0.01
  for opt in (c.g_optimizer, c.d_optimizer):
    opt.name = "rmsprop"
    opt.learning_rate = 5e-5
  return c
