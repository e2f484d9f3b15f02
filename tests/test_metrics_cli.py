"""Tests for ``python -m jaxgan.metrics`` and jaxgan.metrics.evaluate, with random weights.

The full Inception at 299x299 costs ~6 GFLOP per image, so every source holds 5 tiny
images and batches hold 4 (so the last batch is padded). Expected values come from
running the Inception directly on the same images (``inception_outputs``) and from the
metric functions, whose own tests check them against references.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import warnings

import jax
import numpy as np
import pytest

from jaxgan import inception_weights
from jaxgan.metrics import evaluate
from jaxgan.metrics.__main__ import main, run
from jaxgan.metrics.inception_score import inception_score
from jaxgan.metrics.kid import kernel_inception_distance
from jaxgan.metrics.statistics import load_statistics

COMMON = ["--random-weights", "--batch-size", "4", "--no-progress"]


def _images(seed: int, n: int = 5) -> np.ndarray:
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


@functools.lru_cache(maxsize=None)
def _variables():
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    return inception_weights.random_variables(0)


def _direct(images: np.ndarray) -> dict[str, np.ndarray]:
  """Inception outputs of all images in one call, outside the batching code."""
  key = images.tobytes()
  if key not in _DIRECT:
    with jax.default_matmul_precision("highest"):
      out = evaluate.inception_outputs(_variables(), images)
    _DIRECT[key] = {k: np.asarray(v) for k, v in out.items()}
  return _DIRECT[key]


_DIRECT: dict[bytes, dict[str, np.ndarray]] = {}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  from PIL import Image
  root = tmp_path_factory.mktemp("cli")
  a, b = _images(0), _images(1)
  (root / "a").mkdir()
  for i, img in enumerate(a):
    Image.fromarray(img).save(root / "a" / f"{i:03d}.png")
  (root / "a" / "notes.txt").write_text("not an image")
  np.savez(root / "a.npz", x_train=a, y_train=np.arange(5))
  np.savez(root / "b.npz", images=b)  # No x_train: the first array is used.
  return root, a, b


def test_fid_of_a_folder_against_its_own_saved_statistics(data, tmp_path):
  root, a, _ = data
  with pytest.warns(UserWarning, match="RANDOM"):
    result = run(["stats", str(root / "a.npz"), str(tmp_path / "a_stats.npz")] + COMMON)
  assert result["n"] == 5
  mu, sigma = load_statistics(tmp_path / "a_stats.npz")
  feats = _direct(a)["pool3"].astype(np.float64)
  np.testing.assert_allclose(mu, feats.mean(axis=0), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(sigma, np.cov(feats, rowvar=False), rtol=1e-4, atol=1e-7)
  with pytest.warns(RuntimeWarning, match="singular"):  # 5 images, 2048 dimensions.
    result = run(["fid", str(root / "a"), str(tmp_path / "a_stats.npz")] + COMMON)
  assert abs(result["fid"]) < 1e-6 * np.trace(sigma)


def test_inception_score(data):
  root, _, b = data
  result = run(["is", str(root / "b.npz"), "--splits", "2"] + COMMON)
  mean, std = inception_score(_direct(b)["logits"], splits=2)
  assert result["is_mean"] >= 1.0
  np.testing.assert_allclose([result["is_mean"], result["is_std"]], [mean, std], rtol=1e-5)


def test_kid(data):
  root, a, b = data
  result = run(["kid", str(root / "a"), str(root / "b.npz"), "--subsets", "3",
                "--subset-size", "4"] + COMMON)
  mean, std = kernel_inception_distance(_direct(a)["pool3"], _direct(b)["pool3"], 3, 4)
  np.testing.assert_allclose([result["kid_mean"], result["kid_std"]], [mean, std],
                             rtol=1e-3, atol=1e-6)


def test_max_images_and_generator_features(data):
  _, a, _ = data

  def sample(key, n):  # A "generator": images in [-1, 1].
    return jax.numpy.tanh(2.0 * jax.random.normal(key, (n, 32, 32, 3)))

  key = jax.random.key(7)
  extractor = evaluate.FeatureExtractor(_variables(), batch_size=4)
  got = evaluate.generator_features(sample, key, 5, extractor, keep_pool3=True,
                                    keep_logits=True, progress=False)
  assert got.count == 5 and got.pool3.shape == (5, 2048) and got.logits.shape == (5, 1008)
  images = np.concatenate([np.asarray(sample(jax.random.fold_in(key, i), 4)) for i in (0, 1)])
  u8 = np.clip(np.round((images + 1) / 2 * 255), 0, 255).astype(np.uint8)[:5]
  want = _direct(u8)
  np.testing.assert_allclose(got.pool3, want["pool3"], rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(got.logits, want["logits"], rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(got.stats.mean(), want["pool3"].mean(axis=0), rtol=1e-4, atol=1e-5)
  source = evaluate.array_source(a, max_images=3)
  assert source.count == 3 and [len(x) for x in source.batches(2)] == [2, 1]


def test_errors_name_the_problem(data, tmp_path, monkeypatch, capsys):
  root, _, _ = data
  monkeypatch.setenv("JAXGAN_CACHE_DIR", str(tmp_path / "cache"))
  monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
  assert main(["fid", str(root / "a"), str(root / "b.npz"), "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert "--allow-download" in err and inception_weights.FID_WEIGHTS_URL in err
  np.savez(tmp_path / "s.npz", mu=np.zeros(3), sigma=np.eye(3))
  assert main(["is", str(tmp_path / "s.npz")] + COMMON) == 2
  assert "needs images" in capsys.readouterr().err
  assert main(["is", str(tmp_path / "nothing")] + COMMON) == 2
  assert "no such file" in capsys.readouterr().err
  np.savez(tmp_path / "chw.npz", x_train=np.zeros((2, 3, 8, 8), np.uint8))
  with pytest.raises(evaluate.SourceError, match="channels first"):
    evaluate.open_source(tmp_path / "chw.npz")
  np.savez(tmp_path / "f.npz", x_train=np.full((2, 8, 8, 3), 2.0))
  with pytest.raises(evaluate.SourceError, match=r"\[0, 1\]"):
    evaluate.open_source(tmp_path / "f.npz")


def test_module_entry_point_shards_over_two_devices(data, tmp_path):
  root, a, _ = data
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
             JAX_PLATFORMS="cpu")
  out = tmp_path / "s2.npz"
  proc = subprocess.run(
      [sys.executable, "-m", "jaxgan.metrics", "stats", str(root / "a"), str(out),
       "--random-weights", "--batch-size", "3", "--no-progress"],  # Rounded up to 4.
      env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  assert "RANDOM INCEPTION WEIGHTS" in proc.stderr
  mu, _ = load_statistics(out)
  np.testing.assert_allclose(mu, _direct(a)["pool3"].mean(axis=0), rtol=1e-5, atol=1e-6)
