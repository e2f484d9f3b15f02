"""Stacked MNIST, the measurement: each method trained for several seeds in one vmapped
program (``jaxgan.sweep.program``), each sample's three channels labelled by the digit
classifier, and the modes and KL to uniform counted as PacGAN does.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from jaxgan.config import get_config
from jaxgan.data.images import load_npz, to_model_range, to_uint8
from jaxgan.experiments import common
from jaxgan.experiments.stacked_mnist import classifier
from jaxgan.metrics.mode_coverage import kl_to_uniform
from jaxgan.sweep import program
from jaxgan.sweep.grid import set_field

N_MODES, LATENT, SHAPE = 1000, 100, (28, 28, 3)


def mode_statistics(triples: np.ndarray) -> dict:
  """Of (N, 3) digit labels: modes (distinct triples), KL(p_gen || uniform over 1000),
  its part due to the channels' digit frequencies alone ``channel_kl`` (the sum over R,
  G, B of KL(p_c || uniform over 10); the rest, KL - channel_kl >= 0, is the channels'
  dependence), and the digits' frequencies over all channels ``digit_freq`` (10,)."""
  ids = triples[:, 0] * 100 + triples[:, 1] * 10 + triples[:, 2]
  counts = np.bincount(ids, minlength=N_MODES)
  per_channel = [np.bincount(triples[:, c], minlength=10) for c in range(3)]
  return {"modes": int((counts > 0).sum()), "kl": kl_to_uniform(counts),
          "channel_kl": sum(kl_to_uniform(c) for c in per_channel),
          "digit_freq": (np.sum(per_channel, 0) / triples.size).tolist()}


def draw_stacked(digits: jax.Array, key: jax.Array, n: int) -> jax.Array:
  """n stacked images (n, 28, 28, 3) in [-1, 1]: three independent uniform digits."""
  idx = jax.random.randint(key, (n, 3), 0, digits.shape[0])
  return to_model_range(jnp.concatenate([digits[idx[:, c]] for c in range(3)], axis=-1))


def to_uint8_channels(images: np.ndarray) -> np.ndarray:
  """(N, 28, 28, 3) in [-1, 1] -> (3N, 28, 28, 1) uint8, channel-major per image."""
  return np.moveaxis(to_uint8(images), -1, 1).reshape(-1, 28, 28, 1)


def score(params, images: np.ndarray) -> dict:
  """Modes and KL of generated (or real) stacked images, labelled by the classifier."""
  return mode_statistics(classifier.classify(params, to_uint8_channels(images)).reshape(-1, 3))


@dataclasses.dataclass(frozen=True)
class Method:
  label: str
  overrides: dict
  # Generator steps as a multiple of the DCGAN's (WGAN-GP's 5 critic steps cost 5x: a
  # third, a like CPU budget; the 2x row: twice).
  step_share: float = 1.0


def _adam(lr: float, b1: float, b2: float) -> dict:
  return {f"{p}_optimizer.{k}": v for p in "gd"
          for k, v in (("learning_rate", lr), ("b1", b1), ("b2", b2))}


def methods() -> dict[str, Method]:
  """DCGAN and PacDCGAN2 (PacGAN table 2's rows), WGAN-GP, spectral norm + hinge, and the
  DCGAN with R1 (the best of the remedies on the 2-D grid) given twice the steps."""
  dcgan = {"loss.game": "non_saturating", "penalty.name": "none", "train.n_critic": 1,
           "model.g_norm": "batch", "model.d_norm": "batch", **_adam(2e-4, 0.5, 0.999)}
  rows = [
      Method("DCGAN", dcgan),
      Method("PacDCGAN2", {**dcgan, "model.pack": 2}),
      Method("WGAN-GP", {"loss.game": "wasserstein", "penalty.name": "gradient_penalty",
                         "penalty.weight": 10.0, "train.n_critic": 5, "model.d_norm": "layer",
                         **_adam(1e-4, 0.5, 0.9)}, step_share=1 / 3),
      Method("SN + hinge", {"loss.game": "hinge", "penalty.name": "none", "train.n_critic": 1,
                            "model.d_norm": "none", "model.spectral_norm": True,
                            **_adam(2e-4, 0.5, 0.999)}),
      # R1 weight 1 (gamma 2): a 2-seed probe at 1,500 steps gave KL 0.59 and 0.73 on
      # 10,000 samples where the DCGAN gave 0.76 and 0.95 (the same seeds).
      Method("DCGAN + R1, 2x steps", {**dcgan, "penalty.name": "r1", "penalty.weight": 1.0},
             step_share=2.0),
      # A 2-seed probe of that row (10,000 samples) went on falling with the steps: KL
      # 0.58, 0.73 (1,500); 0.55, 0.49 (3,000); 0.25, 0.30 (4,500); 0.21, 0.17 (6,000).
      Method("DCGAN + R1, 6x steps", {**dcgan, "penalty.name": "r1", "penalty.weight": 1.0},
             step_share=6.0),
  ]
  return {m.label: m for m in rows}


def select(only: str) -> dict[str, Method]:
  """The methods named in ``only``: comma-separated slugs of their labels ('dcgan',
  'dcgan_r1_2x_steps'; labels may contain commas) or labels without a comma."""
  by_slug = {common.slug(label): m for label, m in methods().items()}
  chosen = {}
  for name in filter(None, (part.strip() for part in only.split(","))):
    if common.slug(name) not in by_slug:
      raise ValueError(f"unknown method {name!r} in only={only!r}; the methods' slugs: "
                       f"{', '.join(by_slug)}")
    method = by_slug[common.slug(name)]
    chosen[method.label] = method
  return chosen


def method_config(method: Method, features: int, batch: int, steps: int):
  c = get_config()
  base = {"model.name": "dcgan", "model.features": features, "model.latent_dim": LATENT,
          "data.batch_size": batch, "train.steps": steps, "train.mode": "alternating"}
  for field, value in {**base, **method.overrides}.items():
    set_field(c, field, value)
  return c


def train_sweep(method: Method, digits: jax.Array, seeds: int, steps: int, features: int,
                batch: int = 64, chunk: int | None = None) -> dict[str, Any]:
  """Trains ``seeds`` variants of ``method`` in one program; returns their final sweep state."""
  timer = common.Timer()
  # XLA:CPU runs these convolutions far slower inside a loop (common.train_seeds); on an
  # accelerator a scan of 50 steps per call saves the dispatches.
  chunk = chunk or (1 if jax.default_backend() == "cpu" else 50)
  steps = max(1, round(steps * method.step_share))
  chunk = min(chunk, steps)
  steps = chunk * max(1, steps // chunk)
  config = method_config(method, features, batch, steps)
  sweep = common.train_seeds(config, seeds, SHAPE, draw_stacked, digits, 20, chunk,
                             desc=method.label)
  return {"sweep": sweep, "steps": steps, "train_seconds": timer(), "seeds": seeds,
          "features": features, "batch": batch}


def generate(sweep, n: int, block: int = 1000) -> np.ndarray:
  """n samples of every variant's G: (K, n, 28, 28, 3)."""
  sample = jax.jit(lambda s, key: program.sample_all(s, key, block))
  parts = [np.asarray(sample(sweep, jax.random.fold_in(jax.random.key(30), j)))
           for j in range(math.ceil(n / block))]
  return np.concatenate(parts, axis=1)[:, :n]


def load_digits(mnist: str | None, quick: bool):
  """(x_train, y_train, x_test, y_test, source): MNIST from an .npz, or generated digits."""
  if mnist is None:
    if not quick:
      raise ValueError("stacked_mnist needs the MNIST digits: pass --mnist PATH, an .npz with "
                       "x_train, y_train, x_test, y_test (uint8); or use --quick for a "
                       "CI-sized run on generated digits")
    x_train, y_train = classifier.synthetic_digits(jax.random.key(0), 2000)
    x_test, y_test = classifier.synthetic_digits(jax.random.key(1), 500)
    return x_train, y_train, x_test, y_test, "generated 10-class patterns (quick, not MNIST)"
  train, test = load_npz(mnist, "train", 10), load_npz(mnist, "test", 10)
  if train.shape != (28, 28, 1):
    raise ValueError(f"{mnist}: expected 28x28 grayscale digits, got {train.shape}")
  return train.images, train.labels, test.images, test.labels, str(mnist)


def _cell(out, method: Method, digits, params, seeds, steps, features, n_eval) -> dict:
  """One method: trained and scored, or read back from ``out/runs`` (same settings)."""
  setting = {"method": method.label, "overrides": method.overrides, "seeds": seeds,
             "steps": steps, "features": features, "n_eval": n_eval}
  path = None if out is None else out / "runs" / common.slug(method.label)
  if path is not None and path.with_suffix(".json").exists():
    saved = json.loads(path.with_suffix(".json").read_text())
    if saved["setting"] == json.loads(json.dumps(setting)):
      saved["grid"] = np.load(path.with_suffix(".npy"))
      return saved
  trained = train_sweep(method, digits, seeds, steps, features)
  fakes = generate(trained["sweep"], n_eval)
  cell = {"setting": setting, "steps": trained["steps"], "batch": trained["batch"],
          "seconds": trained["train_seconds"], "device": common.device_description(),
          "runs": [score(params, f) for f in fakes],
          "diverged_at": np.asarray(trained["sweep"].diverged_at).tolist()}
  if path is not None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path.with_suffix(".npy"), fakes[0, :64])
    path.with_suffix(".json").write_text(json.dumps(cell, indent=1))
  cell["grid"] = fakes[0, :64]
  return cell


def summarize(runs: list[dict]) -> dict:
  """Mean and standard error (ddof 1) over the seeds of modes, KL and (when the runs
  recorded it: not in caches older than it) channel_kl."""
  out = {}
  for k in ("modes", "kl") + (("channel_kl",) if all("channel_kl" in r for r in runs) else ()):
    out[k] = common.mean_se(np.array([r[k] for r in runs], float))
  return out


def _trained_classifier(out, source: str, x_train, y_train, x_test, y_test, quick: bool):
  """(params, accuracy, epochs, seconds): trained, or read back from ``out/classifier``
  when it was trained there on the same digits (a rerun then costs no retraining)."""
  setting = {"source": source, "quick": quick, "n_train": len(x_train)}
  path = None if out is None else out / "classifier"
  if path is not None and path.with_suffix(".json").exists():
    saved = json.loads(path.with_suffix(".json").read_text())
    if saved["setting"] == setting:
      like = classifier.DigitClassifier().init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
      params = serialization.from_bytes(like["params"], path.with_suffix(".msgpack").read_bytes())
      return params, saved["accuracy"], saved["epochs"], saved["seconds"]
  timer = common.Timer()
  params, accuracy, epochs = classifier.train_classifier(
      x_train, y_train, x_test, y_test, jax.random.key(2), max_epochs=3 if quick else 6)
  seconds = timer()
  if path is not None:
    path.with_suffix(".msgpack").write_bytes(serialization.to_bytes(params))
    path.with_suffix(".json").write_text(json.dumps(
        {"setting": setting, "accuracy": accuracy, "epochs": epochs, "seconds": seconds}))
  return params, accuracy, epochs, seconds


def measure(quick: bool = False, out=None, mnist: str | None = None, steps: int | None = None,
            seeds: int | None = None, features: int | None = None,
            n_eval: int | None = None, only: str | None = None) -> dict:
  """The classifier, then every method (``only``: see ``select``) for ``seeds``
  seeds of ``steps`` generator steps, scored on ``n_eval`` samples each."""
  x_train, y_train, x_test, y_test, source = load_digits(mnist, quick)
  if quick and mnist is not None:
    x_train, y_train, x_test, y_test = x_train[:2000], y_train[:2000], x_test[:500], y_test[:500]
  params, accuracy, epochs, classifier_seconds = _trained_classifier(
      out, source, x_train, y_train, x_test, y_test, quick)
  steps, seeds = steps or (4 if quick else 2000), seeds or (2 if quick else 3)
  features, n_eval = features or (8 if quick else 64), n_eval or (500 if quick else 26_000)
  digits = jnp.asarray(x_train)
  real = np.asarray(draw_stacked(digits, jax.random.key(3), n_eval))
  chosen = methods() if only is None else select(only)
  cells = {label: _cell(out, m, digits, params, seeds, steps, features, n_eval)
           for label, m in chosen.items()}
  for cell in cells.values():
    cell["summary"] = summarize(cell["runs"])
  return {"classifier": {"accuracy": accuracy, "epochs": epochs,
                         "seconds": classifier_seconds},
          "data_source": source, "real": score(params, real), "real_grid": real[:64],
          "cells": cells, "n_eval": n_eval}
