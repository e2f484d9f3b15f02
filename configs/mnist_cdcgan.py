"""Class-conditional DCGAN on MNIST (GAN tutorial sec. 4.1).

G gets the one-hot label concatenated to z; D is a projection discriminator (Miyato &
Koyama 2018). Sample grids have one row per class. For AC-GAN instead:
--config.model.d_conditioning=none --config.model.aux_classifier=True; for the variant
where only D sees labels add --config.model.conditional_g=False.
"""

from configs import mnist_dcgan


def get_config():
  c = mnist_dcgan.get_config()
  c.model.conditional_g = True
  c.model.d_conditioning = "projection"
  return c
