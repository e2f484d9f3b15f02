"""DCGAN on MNIST (Radford et al. 2016 architecture rules; GAN tutorial sec. 4.2).

Non-saturating game, batch norm in both players (real and fake batches normalised
separately), Adam 2e-4 with beta1 0.5, batch 64, 28x28 images; samples come from an
exponential moving average of G's parameters. Reads TFDS 'mnist'; for
a local archive: --config.data.name=npz --config.data.path=path/to/mnist.npz. The
tutorial's one-sided label smoothing: --config.loss.real_label_smoothing=0.1.
"""

from jaxgan import config as default


def get_config():
  c = default.get_config()
  c.data.name = "mnist"
  c.data.batch_size = 64
  c.model.name = "dcgan"
  c.model.latent_dim = 100
  c.model.features = 64
  c.model.g_norm = "batch"
  c.model.d_norm = "batch"
  c.loss.game = "non_saturating"
  c.penalty.name = "none"
  c.penalty.weight = 0.0
  for opt in (c.g_optimizer, c.d_optimizer):
    opt.name, opt.learning_rate, opt.b1, opt.b2 = "adam", 2e-4, 0.5, 0.999
  c.train.steps = 5000
  c.train.n_critic = 1
  c.train.log_every = 100
  c.train.plot_every = 500
  c.train.checkpoint_every = 1000
  c.train.ema_decay = 0.999  # Samples from a moving average of G (Salimans et al. 2016).
  return c
