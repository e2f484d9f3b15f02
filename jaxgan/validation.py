"""Checks a config once, before anything is built, with errors that name the field.

Unknown keys (a typo in a config file or an override) are rejected against the schema,
``jaxgan.config.get_config()``; a field renamed since an earlier version is named with
its new name; a missing field is named. Numbers must be finite, sizes below 2**31, and
what a step or an evaluation needs at the least (the batch, the MLP players' parameters
and gradients, the evaluation samples) must fit in the device's memory: such errors say
what fits. ``config_warnings`` lists settings that are legal but likely mistakes.
"""

from __future__ import annotations

import functools
import math
import os

import jax
import ml_collections

from jaxgan import losses, penalties
from jaxgan.augment import make_augment
from jaxgan.config import RENAMED, get_config
from jaxgan.data import toy
from jaxgan.data.images import TFDS_NAMES
from jaxgan.nets import DTYPES, NETS, NORMS
from jaxgan.nets.conditioning import D_CONDITIONING
from jaxgan.nets.dcgan import G_NORMS, IMAGE_SIZES
from jaxgan.optimizers import OPTIMIZERS
from jaxgan.train_step import MODES


DATA_NAMES = toy.DATASETS + ("npz", "folder", "array_record") + TFDS_NAMES
MAX_SIZE = 2**31  # Sizes and step counts: the step counter and XLA's indices are int32.
MAX_DEPTH = 256   # MLP hidden layers (each is built by a Python loop and compiled).


class ConfigError(ValueError):
  """A config field has a bad value or is unknown."""


def _one_of(field: str, value, allowed) -> None:
  if value not in allowed:
    raise ConfigError(f"config.{field}={value!r} is not one of: "
                      f"{', '.join(map(str, allowed))}")


def _number(field: str, value, low=None, high=None, integer=False,
            low_open=False, high_open=True) -> None:
  kind = int if integer else (int, float)
  if (isinstance(value, bool) or not isinstance(value, kind)
      or (isinstance(value, float) and not math.isfinite(value))):
    raise ConfigError(f"config.{field} must be {'an integer' if integer else 'a finite number'}"
                      f", got {value!r}")
  if low is not None and (value <= low if low_open else value < low):
    raise ConfigError(f"config.{field} must be {'>' if low_open else '>='} {low}, got {value}")
  if high is not None and (value >= high if high_open else value > high):
    raise ConfigError(f"config.{field} must be {'<' if high_open else '<='} {high}, "
                      f"got {value}")


def _size(field: str, value, low: int = 1) -> None:
  _number(field, value, low, MAX_SIZE, integer=True)


def _unknown(field: str, known) -> ConfigError:
  if field in RENAMED:
    return ConfigError(f"config.{field} was renamed: use config.{RENAMED[field]}")
  return ConfigError(f"unknown config field config.{field}; known fields here: "
                     f"{', '.join(sorted(known)) or '(none: it is a value)'}")


def _check_keys(config, schema, prefix="") -> None:
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError(f"the config is a {type(config).__name__}, not an ml_collections."
                      "ConfigDict: start from jaxgan.config.get_config() and change fields")
  for key in config.keys():
    field = f"{prefix}{key}"
    if key not in schema:
      raise _unknown(field, schema.keys())
    if isinstance(schema[key], ml_collections.ConfigDict):
      if not isinstance(config[key], ml_collections.ConfigDict):
        raise ConfigError(f"config.{field} must be a group of fields, got {config[key]!r}")
      _check_keys(config[key], schema[key], field + ".")
    elif isinstance(schema[key], bool) and not isinstance(config[key], bool):
      raise ConfigError(f"config.{field} must be True or False, got {config[key]!r}")
  missing = [f"config.{prefix}{k}" for k in schema.keys() if k not in config]
  if missing:
    raise ConfigError(f"the config lacks {', '.join(missing)}: start from "
                      "jaxgan.config.get_config() (or a file of configs/) and change fields")


def check_schema(config) -> None:
  """Raises ConfigError unless ``config`` is a ConfigDict with exactly the schema's fields."""
  _check_keys(config, get_config())


def check_field(path: str, schema: ml_collections.ConfigDict | None = None) -> None:
  """Raises ConfigError unless the dotted ``path`` (e.g. 'train.steps') names a schema field."""
  node = get_config() if schema is None else schema
  for key in path.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or key not in node:
      raise _unknown(path, node.keys() if isinstance(node, ml_collections.ConfigDict) else ())
    node = node[key]


def validate_config(config: ml_collections.ConfigDict, device_count: int,
                    memory_bytes: int | None = None) -> None:
  """Raises ConfigError naming the first bad field; returns None when all is well.

  ``memory_bytes``: one device's memory (default: ``device_memory_bytes()``).
  """
  _check_keys(config, get_config())
  # One key per seed: jax.random.key keeps 32 bits, numpy's generators refuse negatives.
  _number("seed", config.seed, 0, 2**32, integer=True)
  _one_of("data.name", config.data.name, DATA_NAMES)
  _one_of("data.source", config.data.source, ("memory", "grain"))
  _one_of("data.on_error", config.data.on_error, ("raise", "skip"))
  _size("data.workers", config.data.workers, 0)
  _size("data.prefetch", config.data.prefetch, 0)
  if config.data.name == "array_record" and config.data.source != "grain":
    raise ConfigError("config.data.name='array_record' (a folder written by `jaxgan "
                      "prepare`) is streamed: set config.data.source='grain'")
  if config.data.name in ("npz", "folder", "array_record") and not config.data.path:
    raise ConfigError(f"config.data.name={config.data.name!r} reads config.data.path, "
                      "which is empty")
  _size("data.batch_size", config.data.batch_size)
  _number("data.image_size", config.data.image_size, 0, 4096, integer=True, high_open=False)
  if config.data.batch_size % device_count:
    raise ConfigError(f"config.data.batch_size={config.data.batch_size} is not divisible by "
                      f"the number of devices ({device_count}); use a multiple of {device_count}")

  m = config.model
  _one_of("model.name", m.name, NETS)
  for field in ("latent_dim", "width", "features"):
    _size(f"model.{field}", m[field])
  _number("model.depth", m.depth, 1, MAX_DEPTH, integer=True, high_open=False)
  _one_of("model.g_norm", m.g_norm, G_NORMS)
  _one_of("model.d_conditioning", m.d_conditioning, D_CONDITIONING)
  _one_of("model.dtype", m.dtype, DTYPES)
  _size("model.minibatch_kernels", m.minibatch_kernels, 0)
  _size("model.ref_size", m.ref_size)
  if m.d_conditioning != "none" and not m.conditional_g:
    raise ConfigError(f"config.model.d_conditioning={m.d_conditioning!r} needs labels for "
                      "generated samples: set config.model.conditional_g=True")
  _one_of("model.d_norm", m.d_norm, NORMS)
  _size("model.pack", m.pack)
  if config.data.batch_size % m.pack:
    raise ConfigError(f"config.model.pack={m.pack} needs config.data.batch_size to be a "
                      f"multiple of it, got {config.data.batch_size}")
  if m.pack > 1 and (m.d_conditioning != "none" or m.aux_classifier):
    raise ConfigError(f"config.model.pack={m.pack}: a pack of samples has no one label; set "
                      "config.model.d_conditioning='none' and aux_classifier=False, or pack=1")
  try:
    make_augment(m.diffaugment)
  except ValueError as e:
    raise ConfigError(f"config.model.diffaugment={m.diffaugment!r}: {e}") from None

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
    _size(f"{player}.decay_steps", o.decay_steps, 0)
    for field in ("b1", "b2", "decay", "momentum"):
      _number(f"{player}.{field}", o[field], 0.0, 1.0)
    _number(f"{player}.eps", o.eps, 0.0, low_open=True)

  t = config.train
  _size("train.steps", t.steps, 0)
  _size("train.n_critic", t.n_critic)
  _one_of("train.mode", t.mode, MODES)
  _one_of("train.on_nonfinite", t.on_nonfinite, ("stop", "skip"))
  _number("train.ema_decay", t.ema_decay, 0.0, 1.0)
  for field in ("log_every", "plot_every", "checkpoint_every", "keep_checkpoints",
                "eval_samples"):
    _size(f"train.{field}", t[field])
  _size("train.critic_unroll", t.critic_unroll, 0)
  _size("train.steps_per_call", t.steps_per_call)
  _size("train.eval_every", t.eval_every, 0)
  _size("train.eval_reference", t.eval_reference, 0)
  _one_of("train.eval_mode", t.eval_mode, ("pytorch", "tf1", "clean"))
  validate_distributed(config)
  if config.data.name in toy.DATASETS:  # Last: errors about single fields come first.
    validate_for_data(config, toy.data_shape(config.data.name), 0, device_count, memory_bytes)


def validate_distributed(config: ml_collections.ConfigDict) -> None:
  """The ``distributed`` group, checked before ``jax.distributed.initialize`` is called."""
  d = config.distributed
  _number("distributed.num_processes", d.num_processes, 0, integer=True)
  _number("distributed.process_id", d.process_id, -1, integer=True)
  if not d.enabled or not d.coordinator:
    return
  host, _, port = d.coordinator.rpartition(":")
  if not host or not port.isdigit():
    raise ConfigError(f"config.distributed.coordinator={d.coordinator!r} must be 'host:port'")
  if d.num_processes < 1 or not 0 <= d.process_id < d.num_processes:
    raise ConfigError(
        f"config.distributed.coordinator={d.coordinator!r} needs config.distributed."
        f"num_processes >= 1 and 0 <= process_id < num_processes; got num_processes="
        f"{d.num_processes}, process_id={d.process_id}")


@functools.lru_cache(maxsize=1)
def device_memory_bytes() -> int:
  """Memory of one device: the accelerator's limit, or the host's RAM for the CPU."""
  import jax  # Only here: validation itself needs no devices.
  try:
    stats = jax.local_devices()[0].memory_stats() or {}
  except Exception:  # noqa: BLE001 - a backend without memory statistics.
    stats = {}
  if stats.get("bytes_limit"):
    return int(stats["bytes_limit"])
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _gb(n: float) -> str:
  return f"{n / 2**30:.3g} GB"


def _check_memory(config, shape, device_count: int, memory: int) -> None:
  """Refuses configs whose least memory (a lower bound) exceeds one device's."""
  m, t, b = config.model, config.train, config.data.batch_size
  dim = math.prod(shape)
  item = 4 if config.data.name in toy.DATASETS else 1  # float32 toys, uint8 images.
  batch = t.n_critic * (b // max(device_count, 1)) * dim * item
  nets = activations = 0
  if m.name == "mlp":
    w = m.width
    weights = m.latent_dim * w + dim * w + 2 * (m.depth - 1) * w * w + w * (dim + 1)
    nets = 2 * 4 * weights  # Parameters and gradients, float32.
    activations = 4 * (b // max(device_count, 1)) * w
  need = batch + nets + activations
  if need > memory:
    raise ConfigError(
        f"config.data.batch_size={b}, config.train.n_critic={t.n_critic}"
        + (f", config.model.width={m.width}, config.model.depth={m.depth}, "
           f"config.model.latent_dim={m.latent_dim}" if m.name == "mlp" else "")
        + f" need at least {_gb(need)} per device (the step's batch {_gb(batch)}, the players' "
        f"parameters and gradients {_gb(nets)}, one layer's activations {_gb(activations)}); "
        f"a device here has {_gb(memory)}: lower them")
  if len(shape) != 3:  # Toy data: the evaluation samples, G's activations, the distances.
    per_sample = 8 * (m.width if m.name == "mlp" else dim) + 16 * 26 * (dim + 1) + 200
    fits = max(memory // 2 - need, 0) // per_sample
    if t.eval_samples > fits:
      raise ConfigError(
          f"config.train.eval_samples={t.eval_samples} needs about "
          f"{_gb(t.eval_samples * per_sample)} to sample, measure and plot "
          f"({per_sample} bytes a sample); half of this device's {_gb(memory)} fits "
          f"{fits:,} samples: use at most that")


def validate_for_data(config: ml_collections.ConfigDict, shape: tuple[int, ...],
                      num_classes: int, device_count: int = 1,
                      memory_bytes: int | None = None) -> None:
  """Checks that need the data's example shape and number of classes."""
  m = config.model
  if m.name == "dcgan" and len(shape) != 3:
    raise ConfigError(f"config.model.name='dcgan' needs images (H, W, C), but "
                      f"config.data.name={config.data.name!r} has examples of shape {shape}; "
                      "use config.model.name='mlp'")
  if m.name == "dcgan" and (shape[0] != shape[1] or shape[0] not in IMAGE_SIZES):
    raise ConfigError(f"config.model.name='dcgan' supports square images of "
                      f"{sorted(IMAGE_SIZES)} pixels; config.data gives {shape}")
  if m.diffaugment and len(shape) != 3:
    raise ConfigError(f"config.model.diffaugment={m.diffaugment!r} transforms images (H, W, C); "
                      f"config.data.name={config.data.name!r} has examples of shape {shape}")
  uses_labels = m.conditional_g or m.d_conditioning != "none" or m.aux_classifier
  if uses_labels and num_classes < 2:
    raise ConfigError("config.model.conditional_g / d_conditioning / aux_classifier use class "
                      f"labels, but config.data.name={config.data.name!r} has none")
  _check_memory(config, tuple(shape), device_count,
                device_memory_bytes() if memory_bytes is None else memory_bytes)


def config_warnings(config: ml_collections.ConfigDict) -> list[str]:
  """Legal settings that are likely mistakes, one sentence each (the caller warns)."""
  out = []
  for player in ("g_optimizer", "d_optimizer"):
    n = config[player].decay_steps
    if 0 < n < config.train.steps:
      out.append(f"config.{player}.decay_steps={n} ends before config.train.steps="
                 f"{config.train.steps}: {player[0].upper()}'s learning rate is 0 for the last "
                 f"{config.train.steps - n} steps (decay counts training steps, i.e. generator "
                 "updates, for both players)")
  if (config.train.get("steps_per_call", 1) > 1 and config.model.name == "dcgan"
      and jax.default_backend() == "cpu"):
    out.append(f"config.train.steps_per_call={config.train.steps_per_call} with DCGAN on a "
               "CPU: inside a compiled loop XLA:CPU computes convolution gradients on a slower "
               "path (measured 3x slower per step); use 1 on CPUs")
  return out
