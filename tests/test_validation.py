"""Tests for jaxgan.validation.validate_config on the shipped configs and bad fields."""

from __future__ import annotations

import importlib
import pathlib
import sys

import ml_collections
import pytest

# `configs` is a top-level package of the repository, not of the installed library:
# make it importable however pytest is started.
_ROOT = str(pathlib.Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

from jaxgan.validation import ConfigError, validate_config  # noqa: E402

CONFIGS = ["default", "toy_wgan_gp", "toy_wgan_clip", "toy_gan_ns", "test"]


def _config(name: str = "default") -> ml_collections.ConfigDict:
  return importlib.import_module(f"configs.{name}").get_config()


def _set(cfg: ml_collections.ConfigDict, path: str, value) -> None:
  """Sets a dotted field, bypassing ConfigDict's type checks (as a bad override would)."""
  *parents, leaf = path.split(".")
  node = cfg
  for p in parents:
    node = node[p]
  with cfg.ignore_type(), cfg.unlocked():
    node[leaf] = value


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_are_valid(name):
  cfg = _config(name)
  assert validate_config(cfg, device_count=1) is None
  # Locked, as ml_collections' config flags hand it over.
  cfg.lock()
  assert validate_config(cfg, device_count=1) is None


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_give_separate_optimizer_groups(name):
  """Changing one player's optimizer must not change the other's (TTUR)."""
  cfg = _config(name)
  before = cfg.d_optimizer.learning_rate
  cfg.g_optimizer.learning_rate = before * 3 + 1.0
  assert cfg.d_optimizer.learning_rate == before


BAD = [
    # (id, {field: value}, device_count, substrings the message must contain)
    ("game", {"loss.game": "wasserstain"}, 1, ["loss.game", "wasserstain"]),
    ("penalty", {"penalty.name": "gp"}, 1, ["penalty.name", "gp"]),
    ("model", {"model.name": "resnet"}, 1, ["model.name", "resnet"]),
    ("data", {"data.name": "moons"}, 1, ["data.name", "moons"]),
    ("n_critic_0", {"train.n_critic": 0}, 1, ["train.n_critic"]),
    ("n_critic_float", {"train.n_critic": 1.5}, 1, ["train.n_critic"]),
    ("n_critic_neg", {"train.n_critic": -2}, 1, ["train.n_critic"]),
    ("g_lr", {"g_optimizer.learning_rate": -1e-4}, 1, ["g_optimizer.learning_rate"]),
    ("d_lr", {"d_optimizer.learning_rate": -1e-4}, 1, ["d_optimizer.learning_rate"]),
    ("g_opt_name", {"g_optimizer.name": "adagrad"}, 1, ["g_optimizer.name"]),
    ("batch_devices", {"data.batch_size": 10}, 4, ["data.batch_size", "4"]),
    ("batch_zero", {"data.batch_size": 0}, 1, ["data.batch_size"]),
    ("smoothing_wasserstein", {"loss.game": "wasserstein", "loss.real_label_smoothing": 0.1}, 1,
     ["loss.real_label_smoothing", "wasserstein"]),
    ("fake_label_hinge", {"loss.game": "hinge", "loss.fake_label": 0.1}, 1,
     ["loss.fake_label", "hinge"]),
    ("old_alpha", {"loss.alpha": 0.1}, 1, ["loss.alpha", "renamed", "loss.real_label_smoothing"]),
    ("old_clip", {"penalty.clip": 0.01}, 1, ["penalty.clip", "penalty.weight_clip"]),
    ("old_one_sided", {"penalty.one_sided": True}, 1, ["one_sided_gradient_penalty"]),
    ("nan_lr", {"g_optimizer.learning_rate": float("nan")}, 1,
     ["g_optimizer.learning_rate", "finite"]),
    ("inf_weight", {"penalty.weight": float("inf")}, 1, ["penalty.weight", "finite"]),
    ("nan_smoothing", {"loss.real_label_smoothing": float("nan")}, 1,
     ["loss.real_label_smoothing"]),
    ("nan_ema", {"train.ema_decay": float("nan")}, 1, ["train.ema_decay"]),
    ("gp_dcgan_batchnorm", {"penalty.name": "gradient_penalty", "model.name": "dcgan",
                            "model.d_norm": "batch"}, 1, ["penalty.name", "d_norm"]),
    ("r1_dcgan_batchnorm", {"penalty.name": "r1", "model.name": "dcgan",
                            "model.d_norm": "batch"}, 1, ["penalty.name", "d_norm"]),
    ("g_norm", {"model.g_norm": "group"}, 1, ["model.g_norm"]),
    ("mode", {"train.mode": "sequential"}, 1, ["train.mode"]),
    ("eps", {"d_optimizer.eps": 0.0}, 1, ["d_optimizer.eps"]),
    ("b1", {"g_optimizer.b1": 1.0}, 1, ["g_optimizer.b1"]),
    ("unknown_key", {"train.stepz": 3}, 1, ["train.stepz"]),
    ("pack_batch", {"model.pack": 3}, 1, ["model.pack=3", "multiple", "256"]),
    ("pack_labels", {"model.pack": 2, "model.aux_classifier": True}, 1,
     ["model.pack=2", "no one label"]),
    ("diffaugment_policy", {"model.diffaugment": "color,zoom"}, 1,
     ["model.diffaugment", "zoom"]),
    ("diffaugment_toy", {"model.diffaugment": "color"}, 1, ["model.diffaugment", "images"]),
    ("unknown_group", {"optimizer": 3}, 1, ["optimizer"]),
    ("data_source", {"data.source": "disk"}, 1, ["config.data.source='disk'", "grain"]),
    ("array_record_in_memory", {"data.name": "array_record", "data.path": "x"}, 1,
     ["array_record", "data.source='grain'"]),
    ("workers_negative", {"data.workers": -1}, 1, ["config.data.workers"]),
    ("eval_mode", {"train.eval_mode": "tf2"}, 1, ["config.train.eval_mode='tf2'", "clean"]),
    ("eval_every_negative", {"train.eval_every": -5}, 1, ["config.train.eval_every"]),
    # Issue 18.7: what used to give a traceback at run time.
    ("seed_negative", {"seed": -1}, 1, ["config.seed must be >= 0"]),
    ("seed_64bit", {"seed": 2**32}, 1, ["config.seed must be < 4294967296"]),
    ("eval_samples_huge", {"train.eval_samples": 10**9}, 1,
     ["config.train.eval_samples=1000000000", "fits", "use at most"]),
    ("batch_huge", {"data.batch_size": 2**30}, 1,
     ["config.data.batch_size=1073741824", "need at least", "lower them"]),
    ("width_huge", {"model.width": 2**20}, 1, ["config.model.width=1048576", "need at least"]),
    ("steps_int32", {"train.steps": 2**31}, 1, ["config.train.steps must be < 2147483648"]),
    ("depth", {"model.depth": 10**6}, 1, ["config.model.depth must be <= 256"]),
    ("critic_unroll", {"train.critic_unroll": -1}, 1, ["config.train.critic_unroll"]),
    ("image_size", {"data.image_size": -8}, 1, ["config.data.image_size"]),
    ("bool_field", {"model.conditional_g": 1}, 1, ["config.model.conditional_g must be True"]),
    ("coordinator", {"distributed.enabled": True, "distributed.coordinator": "host"}, 1,
     ["config.distributed.coordinator='host' must be 'host:port'"]),
    ("process_id", {"distributed.enabled": True, "distributed.coordinator": "h:1",
                    "distributed.num_processes": 2, "distributed.process_id": 2}, 1,
     ["0 <= process_id < num_processes"]),
]


@pytest.mark.parametrize("changes,device_count,needles", [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_bad_field_raises_config_error_naming_it(changes, device_count, needles):
  cfg = _config("default")
  for path, value in changes.items():
    _set(cfg, path, value)
  with pytest.raises(ConfigError) as info:
    validate_config(cfg, device_count=device_count, memory_bytes=16 * 2**30)
  assert isinstance(info.value, ValueError)
  for needle in needles:
    assert needle in str(info.value), (needle, str(info.value))


@pytest.mark.parametrize("device_count,batch_size", [(1, 7), (2, 16), (4, 12), (8, 256)])
def test_batch_divisible_by_devices_passes(device_count, batch_size):
  cfg = _config("default")
  cfg.data.batch_size = batch_size
  validate_config(cfg, device_count=device_count)


@pytest.mark.parametrize("d_norm", ["layer", "none"])
def test_penalty_with_layer_or_no_norm_dcgan_critic_is_not_the_error(d_norm):
  """Penalties are fine with a per-example critic. (Whether 'dcgan' fits the toy data
  is a separate check; see the test below.)"""
  cfg = _config("default")
  cfg.model.name = "dcgan"
  cfg.model.d_norm = d_norm
  try:
    validate_config(cfg, device_count=1)
  except ConfigError as e:
    assert "penalty" not in str(e) and "d_norm" not in str(e), str(e)


def test_dcgan_with_toy_data_is_rejected_by_validation():
  cfg = _config("default")
  cfg.model.name = "dcgan"
  cfg.model.d_norm = "none"
  with pytest.raises(ConfigError, match=r"model\.name|data\.name"):
    validate_config(cfg, device_count=1)


def test_smoothing_allowed_on_cross_entropy_games():
  cfg = _config("toy_gan_ns")
  cfg.loss.real_label_smoothing = 0.1
  validate_config(cfg, device_count=1)


def test_unknown_key_is_refused():
  cfg = _config("default")
  cfg.train.stepz = 3
  with pytest.raises(ConfigError, match=r"train\.stepz"):
    validate_config(cfg, device_count=1)


def test_memory_bounds_say_what_fits():
  """The eval bound: 2,472 bytes a sample at width 128 on 2-D data (G's activations, the
  distances to 25 modes, the plot); half of 1 GiB less the step's needs fits that many."""
  cfg = _config("default")
  memory = 2**30
  per_sample = 8 * 128 + 16 * 26 * 3 + 200
  batch = 5 * 256 * 2 * 4
  nets = 2 * 4 * (2 * 128 + 2 * 128 + 2 * 2 * 128 * 128 + 128 * 3)
  fits = (memory // 2 - batch - nets - 4 * 256 * 128) // per_sample
  cfg.train.eval_samples = fits
  validate_config(cfg, 1, memory_bytes=memory)
  cfg.train.eval_samples = fits + 1
  with pytest.raises(ConfigError, match=f"fits {fits:,} samples"):
    validate_config(cfg, 1, memory_bytes=memory)


def test_a_config_that_is_not_a_config_dict_or_lacks_fields_is_named():
  with pytest.raises(ConfigError, match="is a dict, not an ml_collections.ConfigDict"):
    validate_config({"seed": 0}, 1)
  cfg = _config("default")
  with cfg.unlocked():
    del cfg.train["ema_decay"]
  with pytest.raises(ConfigError, match="lacks config.train.ema_decay"):
    validate_config(cfg, 1)
