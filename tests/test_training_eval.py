"""In-loop FID / KID / PRDC (jaxgan.metrics.training_eval and the loop's use of it).

The loop tests swap the Inception for a cheap fixed feature map (a random projection of
the pixels, as an Inception subclass) and the Frechet distance of 2048-d features from
a few images (pytorch-fid's CPU sqrtm, tens of seconds) for the squared distance of the
means, so they test the schedule, the records, the best checkpoint and the cache; the
scores themselves are tested by the first test, the Inception in test_inception*.py.
"""

import functools
import importlib.util
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from jaxgan import train
from jaxgan.metrics import evaluate, training_eval
from jaxgan.metrics.statistics import FeatureStats
from jaxgan.nets.inception import FEATURE_DIM

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _scipy_fid(x, y):
  """pytorch-fid's formula in numpy/scipy, from the features themselves."""
  mu1, mu2 = x.mean(0), y.mean(0)
  s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_scores_fid_matches_scipy_and_prdc_swaps_nothing():
  rng = np.random.default_rng(0)
  d = 16
  real = rng.standard_normal((300, d))
  fake = 0.8 * rng.standard_normal((200, d)) + 0.3
  ref = training_eval.Reference(real.mean(0), np.cov(real, rowvar=False), len(real),
                                real.astype(np.float32))
  out = training_eval.scores(FeatureStats.from_features(fake), fake.astype(np.float32), ref)
  assert out["fid"] == pytest.approx(_scipy_fid(fake, real), rel=1e-6)
  assert out["eval_n"] == 200
  # A narrower fake set: higher precision than recall (the closed-form direction).
  assert out["precision"] > out["recall"]
  assert set(training_eval.KEYS) <= set(out)


class PixelFeatures(evaluate.FeatureExtractor):
  """A fixed random projection of the pixels to 2048-d instead of the Inception."""

  def __init__(self):
    super().__init__({}, batch_size=32)
    self.calls = 0

  @functools.cached_property
  def weights_sha256(self):
    return "pixels"

  def dispatch(self, images):
    self.calls += 1
    n = images.shape[0]
    x = jnp.asarray(images, jnp.float32).reshape(n, -1)
    if images.dtype == jnp.uint8:
      x = x / 255.0
    w = jax.random.normal(jax.random.key(0), (x.shape[1], FEATURE_DIM)) / 8.0
    return {"pool3": jnp.tanh(x @ w)}, n


def _config(tmp_path, **train):
  spec = importlib.util.spec_from_file_location("mnist_dcgan", ROOT / "configs/mnist_dcgan.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  rng = np.random.default_rng(0)
  np.savez(tmp_path / "tiny.npz", x_train=rng.integers(0, 256, (40, 28, 28), dtype=np.uint8))
  c.data.name, c.data.path, c.data.batch_size = "npz", str(tmp_path / "tiny.npz"), 8
  c.model.features, c.model.latent_dim = 4, 8
  c.train.update(steps=4, log_every=1, plot_every=4, checkpoint_every=4, eval_every=2,
                 eval_samples=24, eval_reference=32, eval_cache_dir=str(tmp_path / "cache"))
  c.train.update(**train)
  return c


def _quick_distance(mu1, sigma1, mu2, sigma2):
  return float(np.sum((np.asarray(mu1) - np.asarray(mu2)) ** 2))


@pytest.fixture
def quick(monkeypatch):
  monkeypatch.setattr(training_eval, "frechet_distance", _quick_distance)


@pytest.mark.slow  # Default-suite budget: test_scores_fid_matches_scipy_and_prdc_swaps_nothing
# and test_without_weights_the_run_trains_and_says_why train with in-loop scores there.
def test_fid_rows_best_checkpoint_and_cached_reference(tmp_path, monkeypatch, quick):
  features = PixelFeatures()
  monkeypatch.setattr(train.training_eval, "make_evaluator", functools.partial(
      training_eval.make_evaluator, extractor=features, progress=False))
  train.train_and_evaluate(_config(tmp_path), str(tmp_path / "run"))
  rows = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
  scored = {r["step"]: r for r in rows if "fid" in r}
  assert sorted(scored) == [2, 4]  # Every eval_every steps, and the last.
  assert all(r["eval_n"] == 24 and np.isfinite(r["fid"]) and r["fid"] > 0
             for r in scored.values())
  best = json.loads((tmp_path / "run/best_fid.json").read_text())
  low = min(scored, key=lambda s: scored[s]["fid"])
  assert best == {"step": low, "fid": scored[low]["fid"]}
  assert (tmp_path / "run/best_fid" / str(low)).is_dir()
  # The reference: 32 training images through the extractor once, then cached.
  cached = list((tmp_path / "cache").glob("*.npz"))
  assert len(cached) == 1
  with np.load(cached[0]) as f:
    x = np.load(tmp_path / "tiny.npz")["x_train"][:32]
    expected = np.asarray(features.dispatch(x[..., None])[0]["pool3"], np.float64)
    np.testing.assert_allclose(f["mu"], expected.mean(0), atol=1e-5)
    assert int(f["n"]) == 32 and f["pool3"].shape == (24, FEATURE_DIM)

  def no_features(*args, **kwargs):
    raise AssertionError("the cached reference should have been read")
  monkeypatch.setattr(training_eval.evaluate, "source_features", no_features)
  train.train_and_evaluate(_config(tmp_path, steps=2), str(tmp_path / "again"))
  rows = [json.loads(line) for line in (tmp_path / "again/metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows if "fid" in r] == [2]


def test_without_weights_the_run_trains_and_says_why(tmp_path, capsys):
  missing = tmp_path / "nowhere.pth"
  train.train_and_evaluate(_config(tmp_path, steps=2, eval_weights=str(missing)),
                           str(tmp_path / "run"))
  assert "In-loop FID is off" in capsys.readouterr().out
  rows = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == [1, 2] and not any("fid" in r for r in rows)
  assert not (tmp_path / "run/best_fid.json").exists()


@pytest.mark.slow
def test_random_inception_end_to_end(tmp_path):
  """The real path: the Inception (random weights, warned about) and pytorch-fid's FID."""
  with pytest.warns(UserWarning, match="RANDOM INCEPTION WEIGHTS"):
    train.train_and_evaluate(_config(tmp_path, steps=2, eval_weights="random"),
                             str(tmp_path / "run"))
  rows = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
  (row,) = [r for r in rows if "fid" in r]
  assert row["step"] == 2 and row["fid"] > 0 and 0 <= row["precision"] <= 1


@pytest.mark.slow  # Default-suite budget; a cheaper sibling test stays.
def test_a_sweep_scores_each_variant_with_the_same_reference(tmp_path, monkeypatch, quick):
  from jaxgan.sweep.run import run_sweep
  features = PixelFeatures()
  monkeypatch.setattr(training_eval, "make_evaluator", functools.partial(
      training_eval.make_evaluator, extractor=features, progress=False))
  result = run_sweep(_config(tmp_path, steps=2), str(tmp_path / "sweep"), ["seed=0,1"])
  fids = [result["variants"][str(i)]["fid"] for i in range(2)]
  assert all(np.isfinite(f) and f > 0 for f in fids) and fids[0] != fids[1]  # Two Gs.
  (row,) = result["rows"]
  assert row["fid_mean"] == pytest.approx(np.mean(fids))
  assert row["fid_se"] == pytest.approx(np.std(fids, ddof=1) / np.sqrt(2))
