"""Checks a config once, before anything is built, with errors that name the field.

Unknown keys (a typo in a config file or an override) are rejected against the schema,
``jaxgan.config.get_config()``; a field renamed since an earlier version is named with
its new name. Numbers must be finite.
"""

from __future__ import annotations

import math

import ml_collections

from jaxgan import losses, penalties
from jaxgan.config import RENAMED, get_config
from jaxgan.data import toy
from jaxgan.data.images import TFDS_NAMES
from jaxgan.nets import DTYPES, NETS, NORMS
from jaxgan.nets.conditioning import D_CONDITIONING
from jaxgan.nets.dcgan import G_NORMS, IMAGE_SIZES
from jaxgan.optimizers import OPTIMIZERS
from jaxgan.train_step import MODES


DATA_NAMES = toy.DATASETS + ("npz", "folder") + TFDS_NAMES


class ConfigError(ValueError):
  """A config field has a bad value or is unknown."""


def _one_of(field: str, value, allowed) -> None:
  if value not in allowed:
    raise ConfigError(f"config.{field}={value!r} is not one of: "
                      f"{', '.join(map(str, allowed))}")


def _number(field: str, value, low=None, high=None, integer=False,
            low_open=False) -> None:
  kind = int if integer else (int, float)
  if (isinstance(value, bool) or not isinstance(value, kind)
      or (isinstance(value, float) and not math.isfinite(value))):
    raise ConfigError(f"config.{field} must be {'an integer' if integer else 'a finite number'}"
                      f", got {value!r}")
  if low is not None and (value <= low if low_open else value < low):
    raise ConfigError(f"config.{field} must be {'>' if low_open else '>='} {low}, got {value}")
  if high is not None and value >= high:
    raise ConfigError(f"config.{field} must be < {high}, got {value}")


def _unknown(field: str, known) -> ConfigError:
  if field in RENAMED:
    return ConfigError(f"config.{field} was renamed: use config.{RENAMED[field]}")
  return ConfigError(f"unknown config field config.{field}; known fields here: "
                     f"{', '.join(sorted(known)) or '(none: it is a value)'}")


def _check_keys(config, schema, prefix="") -> None:
  for key in config.keys():
    field = f"{prefix}{key}"
    if key not in schema:
      raise _unknown(field, schema.keys())
    if isinstance(schema[key], ml_collections.ConfigDict):
      if not isinstance(config[key], ml_collections.ConfigDict):
        raise ConfigError(f"config.{field} must be a group of fields, got {config[key]!r}")
      _check_keys(config[key], schema[key], field + ".")


def check_field(path: str, schema: ml_collections.ConfigDict | None = None) -> None:
  """Raises ConfigError unless the dotted ``path`` (e.g. 'train.steps') names a schema field."""
  node = get_config() if schema is None else schema
  for key in path.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or key not in node:
      raise _unknown(path, node.keys() if isinstance(node, ml_collections.ConfigDict) else ())
    node = node[key]


def validate_config(config: ml_collections.ConfigDict, device_count: int) -> None:
  """Raises ConfigError naming the first bad field; returns None when all is well."""
  _check_keys(config, get_config())
  _number("seed", config.seed, integer=True)
  _one_of("data.name", config.data.name, DATA_NAMES)
  if config.data.name in ("npz", "folder") and not config.data.path:
    raise ConfigError(f"config.data.name={config.data.name!r} reads config.data.path, "
                      "which is empty")
  _number("data.batch_size", config.data.batch_size, 1, integer=True)
  if config.data.batch_size % device_count:
    raise ConfigError(f"config.data.batch_size={config.data.batch_size} is not divisible by "
                      f"the number of devices ({device_count}); use a multiple of {device_count}")

  m = config.model
  _one_of("model.name", m.name, NETS)
  for field in ("latent_dim", "width", "depth", "features"):
    _number(f"model.{field}", m[field], 1, integer=True)
  _one_of("model.g_norm", m.g_norm, G_NORMS)
  _one_of("model.d_conditioning", m.d_conditioning, D_CONDITIONING)
  _one_of("model.dtype", m.dtype, DTYPES)
  _number("model.minibatch_kernels", m.minibatch_kernels, 0, integer=True)
  _number("model.ref_size", m.ref_size, 1, integer=True)
  if m.d_conditioning != "none" and not m.conditional_g:
    raise ConfigError(f"config.model.d_conditioning={m.d_conditioning!r} needs labels for "
                      "generated samples: set config.model.conditional_g=True")
  _one_of("model.d_norm", m.d_norm, NORMS)

  game = config.loss.game
  _one_of("loss.game", game, tuple(losses.GAMES))
  for field in ("real_label_smoothing", "fake_label"):
    _number(f"loss.{field}", config.loss[field], 0.0, 1.0)
    if config.loss[field] and not losses.GAMES[game].smoothable:
      raise ConfigError(f"config.loss.{field}={config.loss[field]} needs a cross-entropy game "
                        f"(minimax, non_saturating, maximum_likelihood), not {game!r}")

  p = config.penalty
  _one_of("penalty.name", p.name, ("none", *penalties.PENALTIES))
  _number("penalty.weight", p.weight, 0.0)
  _number("penalty.weight_clip", p.weight_clip, 0.0)
  if p.name != "none" and m.name == "dcgan" and m.d_norm == "batch":
    raise ConfigError(f"config.penalty.name={p.name!r} needs per-example critic gradients, "
                      "which batch norm in D breaks; set config.model.d_norm to 'none' or "
                      "'layer'")
  if p.name != "none" and m.minibatch_kernels:
    raise ConfigError(f"config.penalty.name={p.name!r} needs per-example critic gradients, "
                      "which minibatch discrimination breaks; set "
                      "config.model.minibatch_kernels=0")
  for field in ("aux_weight_d", "aux_weight_g"):
    _number(f"loss.{field}", config.loss[field], 0.0)

  for player in ("g_optimizer", "d_optimizer"):
    o = config[player]
    _one_of(f"{player}.name", o.name, OPTIMIZERS)
    _number(f"{player}.learning_rate", o.learning_rate, 0.0)
    _number(f"{player}.decay_steps", o.decay_steps, 0, integer=True)
    for field in ("b1", "b2", "decay", "momentum"):
      _number(f"{player}.{field}", o[field], 0.0, 1.0)
    _number(f"{player}.eps", o.eps, 0.0, low_open=True)

  t = config.train
  _number("train.steps", t.steps, 0, integer=True)
  _number("train.n_critic", t.n_critic, 1, integer=True)
  _one_of("train.mode", t.mode, MODES)
  _one_of("train.on_nonfinite", t.on_nonfinite, ("stop", "skip"))
  _number("train.ema_decay", t.ema_decay, 0.0, 1.0)
  for field in ("log_every", "plot_every", "checkpoint_every", "keep_checkpoints",
                "eval_samples"):
    _number(f"train.{field}", t[field], 1, integer=True)
  if config.data.name in toy.DATASETS:  # Last: errors about single fields come first.
    validate_for_data(config, toy.data_shape(config.data.name), 0)


def validate_for_data(config: ml_collections.ConfigDict, shape: tuple[int, ...],
                      num_classes: int) -> None:
  """Checks that need the data's example shape and number of classes."""
  m = config.model
  if m.name == "dcgan" and len(shape) != 3:
    raise ConfigError(f"config.model.name='dcgan' needs images (H, W, C), but "
                      f"config.data.name={config.data.name!r} has examples of shape {shape}; "
                      "use config.model.name='mlp'")
  if m.name == "dcgan" and (shape[0] != shape[1] or shape[0] not in IMAGE_SIZES):
    raise ConfigError(f"config.model.name='dcgan' supports square images of "
                      f"{sorted(IMAGE_SIZES)} pixels; config.data gives {shape}")
  uses_labels = m.conditional_g or m.d_conditioning != "none" or m.aux_classifier
  if uses_labels and num_classes < 2:
    raise ConfigError("config.model.conditional_g / d_conditioning / aux_classifier use class "
                      f"labels, but config.data.name={config.data.name!r} has none")
