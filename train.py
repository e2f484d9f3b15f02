"""Trains a GAN: ``python train.py --config configs/toy_wgan_gp.py --workdir runs/x``.

Any config field can be overridden, e.g. ``--config.train.steps=500``. Without
``--config`` the embedded default (WGAN-GP on 25 Gaussians) is used. The same as the
installed command ``jaxgan train``.
"""

import sys

from jaxgan.cli import train

if __name__ == "__main__":
  train(sys.argv)
