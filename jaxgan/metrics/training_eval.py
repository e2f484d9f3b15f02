"""FID, KID, precision/recall and density/coverage of the generator while it trains.

``train.eval_every = k`` (image data): every k steps and at the end, the training loop
draws ``train.eval_samples`` images from G (the moving average when kept), puts them
through the FID Inception and compares them with a reference made from the training
images. The scores go to ``metrics.jsonl`` and TensorBoard as ``fid``, ``kid``,
``precision``, ``recall``, ``density``, ``coverage`` (with ``eval_n``, the number of
generated images: FIDs compare only at equal N), and the loop keeps the checkpoint of
the lowest FID beside the latest ones (``jaxgan.train``).

The reference: the features of the first ``train.eval_reference`` training images (all
of them with 0), preprocessed as ``train.eval_mode``; its mean and covariance for the
FID and up to ``train.eval_samples`` of its pool3 vectors for the KID and PRDC. It is
computed once and cached in ``train.eval_cache_dir`` (default: ``references/`` under
jaxgan's cache) under a key made of the images' SHA-256, the mode, the Inception
weights' SHA-256 and the counts, so a change to any of them makes a new one.

The weights: pytorch-fid's file, found as ``jaxgan.inception_weights.load_fid_inception``
finds it (``train.eval_weights``: a path, or '' for the cache); nothing is downloaded.
Without the file the run trains anyway and says once why the in-loop FID is off.
``train.eval_weights = 'random'`` uses random weights, with a warning: numbers for
tests only, not FID. With several processes the in-loop evaluation is off (said once):
use ``jaxgan evaluate`` on the checkpoints.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import pathlib
from typing import Any, Callable

import jax
import numpy as np
from absl import logging

from jaxgan import inception_weights
from jaxgan.metrics import evaluate
from jaxgan.metrics.frechet import frechet_distance
from jaxgan.metrics.kid import kernel_inception_distance
from jaxgan.metrics.prdc import K_DC, K_PR, prdc
from jaxgan.metrics.statistics import FeatureStats

KEYS = ("fid", "kid", "precision", "recall", "density", "coverage")
RANDOM = "random"
BATCH_SIZE = 200


@dataclasses.dataclass(frozen=True)
class Reference:
  """The training images' side of every score."""

  mu: np.ndarray      # (2048,) float64
  sigma: np.ndarray   # (2048, 2048) float64
  n: int              # Images behind mu and sigma.
  pool3: np.ndarray   # (m, 2048) float32: the first m of them, for the KID and PRDC.


def reference_key(images: np.ndarray, mode: str, weights_sha256: str, n_pool3: int) -> str:
  """A hex digest naming a reference: the images (bytes, dtype, shape), the mode, the
  weights and how many pool3 vectors are kept."""
  h = hashlib.sha256()
  h.update(f"{images.dtype.str}|{images.shape}|{mode}|{weights_sha256}|{n_pool3}|".encode())
  h.update(np.ascontiguousarray(images).tobytes())
  return h.hexdigest()


def default_cache_dir() -> pathlib.Path:
  return inception_weights.default_cache_dir() / "references"


def make_reference(images: np.ndarray, extractor: evaluate.FeatureExtractor, n_pool3: int,
                   cache_dir: str | pathlib.Path | None = None,
                   progress: bool = True) -> Reference:
  """The reference of ``images`` (uint8 NHWC), read from the cache when it holds it."""
  cache = pathlib.Path(cache_dir) if cache_dir else default_cache_dir()
  key = reference_key(images, extractor.mode, extractor.weights_sha256, n_pool3)
  path = cache / f"{key[:32]}.npz"
  if path.is_file():
    try:
      with np.load(path) as f:
        ref = Reference(f["mu"], f["sigma"], int(f["n"]), f["pool3"])
      logging.info("FID reference read from %s", path)
      return ref
    except (OSError, ValueError, KeyError) as e:  # A torn or foreign file: made anew.
      logging.warning("FID reference cache %s unreadable (%s); computing it again", path, e)
  source = evaluate.array_source(images, "training images")
  features = evaluate.source_features(source, extractor, progress, keep_pool3=True)
  ref = Reference(features.stats.mean(), features.stats.covariance(), features.count,
                  features.pool3[:n_pool3].copy())
  cache.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(".tmp.npz")
  np.savez(tmp, mu=ref.mu, sigma=ref.sigma, n=np.asarray(ref.n), pool3=ref.pool3)
  tmp.replace(path)  # Whole or absent, never torn.
  return ref


class TrainingEvaluator:
  """``evaluator(state, key) -> {'fid', 'kid', ..., 'eval_n'}`` for a run's train state."""

  def __init__(self, extractor: evaluate.FeatureExtractor, reference: Reference,
               num_samples: int, num_classes: int = 0, progress: bool = True):
    self.extractor, self.reference = extractor, reference
    self.num_samples, self.num_classes, self.progress = num_samples, num_classes, progress

  def _draw(self, state) -> Callable[[jax.Array, int], jax.Array]:
    def draw(key, n):
      k_z, k_y = jax.random.split(key)
      labels = (jax.random.randint(k_y, (n,), 0, self.num_classes)
                if self.num_classes else None)
      return state.sample(k_z, n, labels)
    return draw

  def __call__(self, state, key: jax.Array) -> dict[str, float]:
    """The scores; NaN ones (warned about) when G's images are not finite, so that a
    run with ``on_nonfinite='skip'`` goes on."""
    try:
      features = evaluate.generator_features(self._draw(state), key, self.num_samples,
                                             self.extractor, keep_pool3=True,
                                             progress=self.progress)
    except ValueError as e:  # NaN or inf images.
      logging.warning("in-loop FID of step %d not computed: %s", int(state.step), e)
      return {k: math.nan for k in KEYS}
    return scores(features.stats, features.pool3, self.reference)


def scores(stats: FeatureStats, pool3: np.ndarray, ref: Reference) -> dict[str, float]:
  """Every score of generated features against ``ref``."""
  out: dict[str, Any] = {"fid": frechet_distance(stats.mean(), stats.covariance(),
                                                 ref.mu, ref.sigma), "eval_n": stats.n}
  n = min(len(pool3), len(ref.pool3))
  out["kid"] = kernel_inception_distance(pool3, ref.pool3, subset_size=min(1000, n))[0]
  if len(ref.pool3) > max(K_PR, K_DC) and len(pool3) > K_PR:
    out.update(prdc(real=ref.pool3, fake=pool3))
  return {k: float(v) for k, v in out.items()}


def _load_weights(choice: str):
  """The Inception variables, or (None, why not)."""
  if choice == RANDOM:
    return inception_weights.random_variables(0), None  # It warns, loudly.
  try:
    return inception_weights.load_fid_inception(choice or None), None
  except inception_weights.WeightsError as e:
    return None, str(e)


def make_evaluator(config, images: np.ndarray | None, num_classes: int = 0,
                   extractor: evaluate.FeatureExtractor | None = None,
                   progress: bool = True) -> TrainingEvaluator | None:
  """The in-loop evaluator of ``config.train`` against the training ``images`` (uint8
  NHWC; None for toy data), or None when it is off (eval_every 0, toy data, several
  processes, no weights: the last two said once).

  ``extractor``: features from something else than the FID Inception (tests).
  """
  t = config.train
  if not t.eval_every or images is None:
    return None  # Toy data: mode coverage is measured at every plot instead.
  if jax.process_count() > 1:
    logging.warning("in-loop FID is off: it runs in single-process runs only; evaluate the "
                    "checkpoints with 'jaxgan evaluate --workdir ... --step ...'")
    return None
  if extractor is None:
    variables, why = _load_weights(t.eval_weights)
    if variables is None:
      print(f"In-loop FID is off (train.eval_every={t.eval_every}): {why}")
      return None
    extractor = evaluate.FeatureExtractor(variables, BATCH_SIZE, mode=t.eval_mode)
  if t.eval_reference:
    images = images[:t.eval_reference]
  reference = make_reference(images, extractor, t.eval_samples, t.eval_cache_dir or None,
                             progress)
  return TrainingEvaluator(extractor, reference, t.eval_samples,
                           num_classes if config.model.conditional_g else 0, progress)


def reference_images(source, config) -> np.ndarray | None:
  """The training images the in-loop FID compares with (uint8 NHWC), None for toy data."""
  if len(source.shape) != 3:
    return None
  dataset = getattr(source, "dataset", None)
  if dataset is None:  # A streamed source: no array of its images in memory.
    if config.train.eval_every:
      print("In-loop FID is off: it needs the images in memory (data.source='memory'); "
            "evaluate the checkpoints with 'jaxgan evaluate --ref ...'")
    return None
  return dataset.images
