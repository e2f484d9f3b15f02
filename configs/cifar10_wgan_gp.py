"""WGAN-GP on CIFAR-10 with the hyperparameters of the WGAN-GP paper's CIFAR-10 run.

Adam 2e-4 decayed linearly to 0 over 100,000 generator steps, betas (0, 0.9), lambda 10,
5 critic steps per generator step, batch 64 (Gulrajani et al. 2017, sec. 5 and their
gan_cifar.py). Both players' decay counts generator steps, so a shorter run overrides
three fields: --config.train.steps=N --config.g_optimizer.decay_steps=N
--config.d_optimizer.decay_steps=N (a decay that ends before the run is warned about). Nets: the DCGAN layout with a norm-free critic (the paper's best CIFAR-10
numbers use a ResNet, not included here).
"""

from jaxgan import config as default


def get_config():
  c = default.get_config()
  c.data.name = "cifar10"
  c.data.batch_size = 64
  c.model.name = "dcgan"
  c.model.latent_dim = 128
  c.model.features = 64
  c.model.g_norm = "batch"
  c.model.d_norm = "none"
  c.loss.game = "wasserstein"
  c.penalty.name = "gradient_penalty"
  c.penalty.weight = 10.0
  c.train.steps = 100_000
  c.train.n_critic = 5
  c.train.log_every = 100
  c.train.plot_every = 2_500
  c.train.checkpoint_every = 2_500
  for opt in (c.g_optimizer, c.d_optimizer):
    opt.name, opt.learning_rate, opt.b1, opt.b2 = "adam", 2e-4, 0.0, 0.9
    opt.decay_steps = c.train.steps  # Training steps, for both players (as gan_cifar.py).
  return c
