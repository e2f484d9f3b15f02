"""Default configuration: WGAN-GP on the 25-Gaussian grid, sized to train on a laptop CPU.

It follows the reference ``gan_toy.py`` (Gulrajani et al. 2017) except for three things
that make it finish in about a minute on two CPU cores: hidden width 128 (not 512),
learning rate 5e-4 (not 1e-4) and 4,000 generator steps (not 100,000).
``configs/toy_wgan_gp.py`` has the reference values.

Every other config imports this one and overrides a few fields; ``jaxgan.validation``
rejects keys that are not defined here.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = "25gaussians"     # Toy: 8gaussians | 25gaussians | swissroll | mog1d.
                                  # Images: npz | folder (read data.path) or a TFDS name:
                                  # mnist | fashion_mnist | cifar10 | celeb_a.
  c.data.batch_size = 256         # Global batch, per critic step.
  c.data.path = ""                # .npz archive (x_train, y_train) or image folder.
  c.data.split = "train"          # npz: reads x_<split>; TFDS: the split.
  c.data.data_dir = ""            # TFDS data_dir ('' = TFDS's default).
  c.data.image_size = 0           # celeb_a: resize to this (0 = 64).

  c.model = ml_collections.ConfigDict()
  c.model.name = "mlp"            # mlp | dcgan
  c.model.latent_dim = 2
  c.model.width = 128             # mlp: hidden units per layer (gan_toy.py uses 512).
  c.model.depth = 3               # mlp: hidden layers.
  c.model.features = 64           # dcgan: base feature count.
  c.model.g_norm = "batch"        # dcgan: batch | layer | none
  c.model.d_norm = "none"         # dcgan: batch | layer | none (none or layer for penalties)
                                  # g_norm also: reference | virtual (batch norm variants).
  c.model.ref_size = 64           # Reference batch size for g_norm reference | virtual.
  c.model.conditional_g = False   # G gets the class label (labelled data).
  c.model.d_conditioning = "none"  # none | concat | projection: D's logit sees the label.
  c.model.aux_classifier = False  # D also classifies (AC-GAN; alone: only D sees labels).
  c.model.minibatch_kernels = 0   # > 0: minibatch discrimination in D.
  c.model.dtype = "float32"       # float32 | bfloat16 (mixed precision: float32 params/loss).

  c.loss = ml_collections.ConfigDict()
  c.loss.game = "wasserstein"     # minimax | non_saturating | maximum_likelihood |
                                  # wasserstein | hinge | least_squares
  c.loss.alpha = 0.0              # One-sided label smoothing (cross-entropy games).
  c.loss.beta = 0.0               # Fake target, the harmful two-sided smoothing.
  c.loss.aux_weight_d = 1.0       # AC-GAN class cross-entropy weight in D's cost.
  c.loss.aux_weight_g = 1.0       # ... and in G's cost (conditional G only).
  c.loss.feature_matching = False  # G minimises ||E f(x) - E f(G(z))||^2 instead.

  c.penalty = ml_collections.ConfigDict()
  c.penalty.name = "gradient_penalty"  # none | gradient_penalty | r1 | r2
  c.penalty.weight = 0.1          # lambda; gan_toy.py uses 0.1, the paper 10.
  c.penalty.one_sided = False
  c.penalty.clip = 0.0            # WGAN weight clipping of D when > 0 (e.g. 0.01).

  opt = ml_collections.ConfigDict()
  opt.name = "adam"               # adam | rmsprop | sgd
  opt.learning_rate = 5e-4
  opt.b1 = 0.5
  opt.b2 = 0.9
  opt.eps = 1e-8
  opt.decay = 0.9                 # rmsprop
  opt.momentum = 0.0              # sgd
  opt.decay_steps = 0             # > 0: linear decay of the learning rate to 0.
  c.g_optimizer = opt
  c.d_optimizer = ml_collections.ConfigDict(opt.to_dict())

  c.distributed = ml_collections.ConfigDict()  # Multi-host runs (jax.distributed).
  c.distributed.enabled = False   # True: initialise before anything else.
  c.distributed.coordinator = ""  # 'host:port'; '' lets JAX detect the cluster.
  c.distributed.num_processes = 0
  c.distributed.process_id = -1

  c.train = ml_collections.ConfigDict()
  c.train.steps = 4000            # Generator updates.
  c.train.n_critic = 5            # Discriminator updates per generator update.
  c.train.mode = "alternating"    # alternating | simultaneous
  c.train.log_every = 100
  c.train.plot_every = 1000
  c.train.checkpoint_every = 1000
  c.train.keep_checkpoints = 3
  c.train.eval_samples = 2500
  c.train.on_nonfinite = "stop"   # stop | skip: what a NaN/inf loss or gradient does.
  c.train.ema_decay = 0.0         # > 0: sample from a moving average of G's parameters.
  return c
