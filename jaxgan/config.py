"""The config edge: the schema of a run's config, and the adapters from config to objects.

``get_config()`` is the default configuration and the schema of every config: WGAN-GP on
the 25-Gaussian grid, sized to train on a laptop CPU. It follows the reference
``gan_toy.py`` (Gulrajani et al. 2017) except for three things that make it finish in
about a minute on two CPU cores: hidden width 128 (not 512), learning rate 5e-4 (not
1e-4) and 4,000 generator steps (not 100,000); ``configs/toy_wgan_gp.py`` has the
reference values. Config files (``configs/*.py``, or your own) call ``get_config()``
and override a few fields; ``jaxgan.validation`` rejects unknown keys and bad values,
naming the field.

This is the one place where names become functions (the game, the penalty, the
constraint, the optimizers, the nets) and where config fields become the numbers of
the train state (``hparams``). Everything below it takes plain arguments.
"""

from __future__ import annotations

from typing import Sequence

import jax
import ml_collections

from jaxgan import losses, penalties
from jaxgan.augment import make_augment
from jaxgan.data import toy
from jaxgan.hparams import HParams, make_hparams
from jaxgan.nets import make_models
from jaxgan.optimizers import make_optimizer
from jaxgan.train_state import GANState, create_state
from jaxgan.train_step import StepConfig

# Config field -> name in GANState.hyperparameters(): the numbers that can change
# without recompiling (and that a sweep can vmap over).
HYPERPARAMETERS = {
    "penalty.weight": "penalty_weight",
    "penalty.weight_clip": "weight_clip",
    "loss.real_label_smoothing": "real_label_smoothing",
    "loss.fake_label": "fake_label",
    "loss.aux_weight_d": "aux_weight_d",
    "loss.aux_weight_g": "aux_weight_g",
    "train.ema_decay": "ema_decay",
    **{f"{p}_optimizer.{k}": f"{p}.{k}" for p in "gd"
       for k in ("learning_rate", "b1", "b2", "eps", "decay", "momentum")},
}

# Fields renamed in 0.2, so that an old config or override gets a pointer, not a riddle.
RENAMED = {
    "loss.alpha": "loss.real_label_smoothing",
    "loss.beta": "loss.fake_label",
    "penalty.clip": "penalty.weight_clip",
    "penalty.one_sided": "penalty.name='one_sided_gradient_penalty'",
}


def get_config() -> ml_collections.ConfigDict:
  """The default configuration, which is also the schema of every config."""
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
  c.data.source = "memory"        # memory: load the set into RAM | grain: stream it from
                                  # storage (jaxgan.data.grain_source); name may then also
                                  # be array_record (a folder written by `jaxgan prepare`).
  c.data.workers = 2              # grain: decoding processes per host (0 = in the loop's).
  c.data.prefetch = 2             # grain: steps read and sent to the devices ahead.
  c.data.on_error = "raise"       # grain: an unreadable example raises | skip (counted).

  c.model = ml_collections.ConfigDict()
  c.model.name = "mlp"            # mlp | pacgan_mlp (PacGAN's synthetic nets) | dcgan
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
  c.model.pack = 1                # PacGAN: D judges packs of this many samples.
  c.model.spectral_norm = False   # Spectral normalization of every layer of D.
  c.model.diffaugment = ""        # DiffAugment policy for images, e.g. 'color,translation,cutout'.

  c.loss = ml_collections.ConfigDict()
  c.loss.game = "wasserstein"     # minimax | non_saturating | maximum_likelihood |
                                  # wasserstein | hinge | least_squares
  c.loss.real_label_smoothing = 0.0  # alpha: real target 1 - alpha (cross-entropy games).
  c.loss.fake_label = 0.0         # beta: fake target, the harmful two-sided smoothing.
  c.loss.aux_weight_d = 1.0       # AC-GAN class cross-entropy weight in D's cost.
  c.loss.aux_weight_g = 1.0       # ... and in G's cost (conditional G only).
  c.loss.feature_matching = False  # G minimises ||E f(x) - E f(G(z))||^2 instead.

  c.penalty = ml_collections.ConfigDict()
  c.penalty.name = "gradient_penalty"  # none | gradient_penalty |
                                       # one_sided_gradient_penalty | r1 | r2
  c.penalty.weight = 0.1          # lambda; gan_toy.py uses 0.1, the paper 10.
  c.penalty.weight_clip = 0.0     # > 0: WGAN weight clipping of D to [-c, c] (e.g. 0.01).

  opt = ml_collections.ConfigDict()
  opt.name = "adam"               # adam | rmsprop | sgd
  opt.learning_rate = 5e-4
  opt.b1 = 0.5
  opt.b2 = 0.9
  opt.eps = 1e-8
  opt.decay = 0.9                 # rmsprop
  opt.momentum = 0.0              # sgd
  opt.decay_steps = 0             # > 0: linear decay of the learning rate to 0 over that
                                  # many training steps (generator updates), both players.
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
  c.train.eval_samples = 2500     # Toy data: samples for mode coverage; images: generated
                                  # images for the in-loop FID/KID/PRDC.
  c.train.eval_every = 0          # > 0, image data: FID, KID, precision/recall, density/
                                  # coverage every that many steps and at the end; the
                                  # checkpoint of the lowest FID kept in best_fid/.
  c.train.eval_reference = 10000  # Training images in the FID reference (0: all); cached.
  c.train.eval_mode = "pytorch"   # Preprocessing: pytorch | tf1 | clean (jaxgan.metrics).
  c.train.eval_weights = ""       # pytorch-fid's .pth ('' looks in the cache; 'random':
                                  # random weights, tests only: the numbers are not FID).
  c.train.eval_cache_dir = ""     # Where references are cached ('' jaxgan's cache).
  c.train.on_nonfinite = "stop"   # stop | skip: what a NaN/inf loss or gradient does.
  c.train.ema_decay = 0.0         # > 0: sample from a moving average of G's parameters.
  c.train.critic_unroll = 0       # Critic steps unrolled per loop iteration of the step
                                  # (0: all up to 16 critic steps, else 4; see StepConfig).
  c.train.allow_config_change = False  # True: a resume may change any field (warned and
                                       # recorded); otherwise only run length and logging.
  c.train.steps_per_call = 1      # Steps run by one compiled call (a lax.scan over their
                                  # batches); > 1 saves dispatches for small models on
                                  # accelerators. Calls end at steps that log/plot/save.
  return c


def step_config(config: ml_collections.ConfigDict) -> StepConfig:
  """The step's structure: names resolved to the game, penalty and constraint functions."""
  m, loss = config.model, config.loss
  return StepConfig(
      game=losses.get_game(loss.game), penalty=penalties.get_penalty(config.penalty.name),
      d_constraint=penalties.weight_clipping if config.penalty.weight_clip > 0 else None,
      n_critic=config.train.n_critic, mode=config.train.mode, acgan=m.aux_classifier,
      feature_matching=loss.feature_matching,
      critic_unroll=config.train.get("critic_unroll", 0) or None,
      pack=m.pack, augment=make_augment(m.diffaugment))


def hparams(config: ml_collections.ConfigDict) -> HParams:
  """The step's numbers, as they go into the train state."""
  loss, p = config.loss, config.penalty
  return make_hparams(
      penalty_weight=p.weight, weight_clip=p.weight_clip,
      real_label_smoothing=loss.real_label_smoothing, fake_label=loss.fake_label,
      aux_weight_d=loss.aux_weight_d, aux_weight_g=loss.aux_weight_g,
      ema_decay=config.train.ema_decay)


def optimizer(o: ml_collections.ConfigDict, updates_per_step: int = 1):
  """One player's optimizer from its config group (``config.g_optimizer`` or ``d_optimizer``).

  ``updates_per_step``: the player's updates per training step (D: ``train.n_critic``), so
  that ``decay_steps`` counts training steps; ``optimizers(config)`` passes it.
  """
  return make_optimizer(o.name, o.learning_rate, b1=o.b1, b2=o.b2, eps=o.eps, decay=o.decay,
                        momentum=o.momentum, decay_steps=o.decay_steps,
                        updates_per_step=updates_per_step)


def optimizers(config: ml_collections.ConfigDict):
  """(G's optimizer, D's optimizer), both decaying over training steps (generator updates)."""
  return (optimizer(config.g_optimizer),
          optimizer(config.d_optimizer, updates_per_step=config.train.n_critic))


def models(config: ml_collections.ConfigDict, data_shape: Sequence[int], num_classes: int = 0):
  """(generator, discriminator) modules named by ``config.model``."""
  m = config.model
  return make_models(
      m.name, data_shape, width=m.width, depth=m.depth, features=m.features, g_norm=m.g_norm,
      d_norm=m.d_norm, num_classes=num_classes, conditional_g=m.conditional_g,
      d_conditioning=m.d_conditioning, aux_classifier=m.aux_classifier,
      minibatch_kernels=m.minibatch_kernels, ref_size=m.ref_size, dtype=m.dtype,
      spectral_norm=m.spectral_norm)


def initial_state(config: ml_collections.ConfigDict, data_shape: Sequence[int] | None = None,
                  num_classes: int = 0, seed=None) -> GANState:
  """Builds the nets, optimizers and numbers the config names; initialises both players.

  ``seed`` (default ``config.seed``) may be a traced integer, e.g. under ``jax.vmap``.
  """
  shape = tuple(data_shape or toy.data_shape(config.data.name))
  generator, discriminator = models(config, shape, num_classes)
  return create_state(jax.random.key(config.seed if seed is None else seed), generator,
                      discriminator, *optimizers(config), config.model.latent_dim, shape,
                      num_classes, ema=config.train.ema_decay > 0, hparams=hparams(config),
                      pack=config.model.pack)
