"""DCGAN on CIFAR-10, 32x32 (Radford et al. 2016): batch 128, Adam 2e-4, beta1 0.5."""

from configs import mnist_dcgan


def get_config():
  c = mnist_dcgan.get_config()
  c.data.name = "cifar10"
  c.data.batch_size = 128
  c.train.steps = 50_000
  c.train.plot_every = 2_500
  c.train.checkpoint_every = 2_500
  return c
