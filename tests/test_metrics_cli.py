"""Tests for ``python -m jaxgan.metrics`` and jaxgan.metrics.evaluate, with random weights.

The full Inception at 299x299 costs ~6 GFLOP per image, so every source holds 5 tiny
images and batches hold 4 (so the last batch is padded). Expected values come from
running the Inception directly on the same images (``inception_outputs``) and from the
metric functions, whose own tests check them against references.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import warnings

import jax
import numpy as np
import pytest

from jaxgan import inception_weights
from jaxgan.metrics import evaluate
from jaxgan.metrics.__main__ import main, run
from jaxgan.metrics.frechet import rounding_bound
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


@pytest.mark.slow  # One CPU sqrtm of 2048 x 2048 (N < 2048 is singular): 20-30 s.
def test_fid_of_a_folder_against_its_own_saved_statistics(data, tmp_path, capsys):
  root, a, _ = data
  with pytest.warns(UserWarning, match="RANDOM"):
    result = run(["stats", str(root / "a.npz"), str(tmp_path / "a_stats.npz")] + COMMON)
  assert result["n"] == 5
  mu, sigma = load_statistics(tmp_path / "a_stats.npz")
  feats = _direct(a)["pool3"].astype(np.float64)
  np.testing.assert_allclose(mu, feats.mean(axis=0), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(sigma, np.cov(feats, rowvar=False), rtol=1e-4, atol=1e-7)
  capsys.readouterr()
  result = run(["fid", str(root / "a"), str(tmp_path / "a_stats.npz"),
                "--json", str(tmp_path / "fid.json")] + COMMON)
  # The same features on both sides; 5 images in 2048 dimensions, so pytorch-fid's sqrtm
  # route, whose rounding gives a tiny negative number: reported as 0 (within rounding).
  assert result == {"fid": 0.0, "n1": 5, "n2": 5}
  assert abs(_pytorch_fid(mu, sigma, mu, sigma)) <= rounding_bound(mu, sigma, mu, sigma, True)
  out, err = capsys.readouterr()
  assert "N = 5 and 5 images, FID: 0.000000\n" in out and "-0.0" not in out
  assert "N = 5 < 2048" in err and "biased" in err and "singular" not in err
  assert json.loads((tmp_path / "fid.json").read_text()) == result


def _pytorch_fid(mu1, s1, mu2, s2):
  """pytorch-fid's calculate_frechet_distance (sqrtm; offset only if not finite; real part)."""
  from scipy import linalg
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    covmean = linalg.sqrtm(s1.dot(s2))
  assert np.isfinite(covmean).all()
  diff = mu1 - mu2
  return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real)


def _write_stats(path, mu, sigma, n=None):
  np.savez(path, mu=mu, sigma=sigma, **({} if n is None else {"n": n}))
  return str(path)


def test_fid_of_statistics_files_prints_n(tmp_path, capsys):
  rng = np.random.default_rng(0)
  x1, x2 = rng.standard_normal((1000, 6)) + 1.0, rng.standard_normal((40, 6))
  (mu1, s1), (mu2, s2) = ((x.mean(axis=0), np.cov(x, rowvar=False)) for x in (x1, x2))
  p1 = _write_stats(tmp_path / "s1.npz", mu1, s1, 1000)
  p2 = _write_stats(tmp_path / "s2.npz", mu2, s2)  # pytorch-fid's files: no n.
  result = run(["fid", p1, p2, "--no-progress"])  # No weights needed for statistics.
  ref = _pytorch_fid(mu1, s1, mu2, s2)
  assert result["n1"] == 1000 and result["n2"] is None
  assert abs(result["fid"] - ref) <= 1e-9 * ref
  out, err = capsys.readouterr()
  assert f"N = 1000 and unknown images, FID: {ref:.6f}\n" in out
  assert "warning: FID from N = 1000 < 2048 images is biased upwards" in err
  run(["fid", p2, p2, "--no-progress"])  # N unknown, covariance not singular: no warning.
  out, err = capsys.readouterr()
  assert "N = unknown and unknown images, FID: 0.000000\n" in out and err == ""


def _bad_statistics(tmp_path):
  """{name: (file, words of the error)} for files that do not hold a mean and covariance."""
  rng = np.random.default_rng(1)
  x = rng.standard_normal((50, 4))
  mu, sigma = x.mean(axis=0), np.cov(x, rowvar=False)
  nonsym, nan = sigma.copy(), sigma.copy()
  nonsym[0, 3] += 1.0
  nan[1, 2] = nan[2, 1] = np.nan
  cases = {"nonsymmetric": (nonsym, "is not symmetric"),
           "negative_definite": (-sigma, "is not positive semi-definite"),
           "nan_sigma": (nan, "sigma has 2 non-finite"),
           "shapes": (sigma[:3, :3], r"mu must be \(d,\) and sigma \(d, d\)")}
  return {k: (_write_stats(tmp_path / f"{k}.npz", mu, s), words)
          for k, (s, words) in cases.items()}, _write_stats(tmp_path / "good.npz", mu, sigma)


@pytest.mark.parametrize("case", ["nonsymmetric", "negative_definite", "nan_sigma", "shapes"])
def test_fid_refuses_statistics_that_are_not_a_covariance(tmp_path, capsys, case):
  bad, good = _bad_statistics(tmp_path)
  path, words = bad[case]
  assert main(["fid", good, path, "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert err.startswith(f"error: {path}: ") and re.search(words, err), err
  assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_fid_refuses_statistics_of_different_dimensions(tmp_path, capsys):
  a = _write_stats(tmp_path / "a.npz", np.zeros(3), np.eye(3))
  b = _write_stats(tmp_path / "b.npz", np.zeros(4), np.eye(4))
  assert main(["fid", a, b, "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert "different dimensions: 3 and 4" in err and len(err.strip().splitlines()) == 1


def test_module_exits_2_with_one_line_and_no_traceback(tmp_path):
  bad, good = _bad_statistics(tmp_path)
  proc = subprocess.run([sys.executable, "-m", "jaxgan.metrics", "fid", bad["nonsymmetric"][0],
                         good, "--no-progress"], capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      line for line in proc.stderr.strip().splitlines() if line.startswith("error: ")]
  assert "nonsymmetric.npz: sigma is not symmetric" in proc.stderr
  assert "Traceback" not in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("command", ["stats", "is", "fid"])
def test_nan_images_are_refused(tmp_path, capsys, data, command):
  root = data[0]
  images = np.random.default_rng(2).uniform(0, 1, (5, 16, 16, 3)).astype(np.float32)
  images[3, 2, 1, 0] = np.nan
  path = tmp_path / "nan_images.npz"
  np.savez(path, x_train=images)
  argv = {"stats": ["stats", str(path), str(tmp_path / "out.npz")],
          "is": ["is", str(path)],
          "fid": ["fid", str(root / "a.npz"), str(path)]}[command]
  assert main(argv + COMMON) == 2
  err = capsys.readouterr().err
  assert f"error: {path}[x_train]: 1 pixel values are NaN or inf" in err
  assert len(err.strip().splitlines()) == 1
  assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("position", ["first", "last"])
def test_broken_png_in_a_folder_is_named(tmp_path, capsys, data, position):
  root, a, _ = data
  folder = tmp_path / "imgs"
  folder.mkdir()
  from PIL import Image
  for i, img in enumerate(a):
    Image.fromarray(img).save(folder / f"{i + 1:03d}.png")
  broken = folder / ("000.png" if position == "first" else "999.png")
  broken.write_bytes((folder / "001.png").read_bytes()[:100])  # Truncated.
  assert main(["stats", str(folder), str(tmp_path / "out.npz")] + COMMON) == 2
  err = capsys.readouterr().err
  last = err.strip().splitlines()[-1]  # After the random-weights banner, if it came.
  assert last.startswith(f"error: {broken}: cannot decode") and "Traceback" not in err


def test_files_pytorch_fid_would_skip_are_reported(tmp_path, data):
  from PIL import Image
  _, a, _ = data
  Image.fromarray(a[0]).save(tmp_path / "0.png")
  Image.fromarray(a[1]).save(tmp_path / "1.PNG")
  with pytest.warns(UserWarning, match="1 files that pytorch-fid would not read"):
    source = evaluate.folder_source(tmp_path)
  assert source.count == 2


def test_generator_with_nan_images_is_refused():
  def sample(key, n):
    x = jax.random.uniform(key, (n, 16, 16, 3), minval=-1, maxval=1)
    return x.at[0, 0, 0, 0].set(jax.numpy.nan)

  extractor = evaluate.FeatureExtractor(_variables(), batch_size=4)
  with pytest.raises(ValueError, match="NaN or inf images in batch"):
    evaluate.generator_features(sample, jax.random.key(0), 4, extractor, progress=False)


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


@pytest.mark.slow  # Default-suite budget; a cheaper sibling test stays.
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


def test_scores_refuse_non_finite_features():
  logits = np.random.default_rng(3).standard_normal((6, 10))
  logits[2, 4] = np.nan
  with pytest.raises(ValueError, match="logits have 1 NaN or inf"):
    inception_score(logits, splits=2)
  features = np.random.default_rng(4).standard_normal((6, 8))
  with pytest.raises(ValueError, match="features2 have 1 NaN or inf"):
    kernel_inception_distance(features, np.where(np.eye(6, 8) * np.arange(8) == 3, np.inf,
                                                 features), 2, 4)


# ----------------------------------------------------------------------------- modes, provenance


def _hash_of(variables) -> str:
  """The documented weights_sha256 layout, written out: per leaf in sorted path order,
  'path|dtype|shape|' then the little-endian bytes."""
  import hashlib
  flat = []

  def walk(node, path):
    for k in sorted(node):
      if isinstance(node[k], dict):
        walk(node[k], path + f"['{k}']")
      else:
        flat.append((path + f"['{k}']", np.asarray(node[k])))

  walk(variables, "")
  h = hashlib.sha256()
  for path, value in sorted(flat, key=lambda item: item[0]):
    value = np.ascontiguousarray(value, value.dtype.newbyteorder("<"))
    h.update(f"{path}|{value.dtype.str}|{value.shape}|".encode())
    h.update(value.tobytes())
  return h.hexdigest()


def test_weights_sha256_is_of_the_arrays():
  variables = _variables()
  extractor = evaluate.FeatureExtractor(variables, batch_size=4)  # Hashes device copies.
  assert extractor.weights_sha256 == _hash_of(variables) == evaluate.weights_sha256(variables)
  changed = jax.tree_util.tree_map(lambda a: a, variables)
  changed["params"]["fc"]["kernel"] = np.nextafter(variables["params"]["fc"]["kernel"], 1.0)
  assert evaluate.weights_sha256(changed) != extractor.weights_sha256


def test_stats_in_mode_tf1_records_how_it_was_made(data, tmp_path, capsys):
  root, a, _ = data
  out = tmp_path / "tf1.npz"
  with pytest.warns(UserWarning, match="RANDOM"):
    result = run(["stats", str(root / "a"), str(out), "--mode", "tf1"] + COMMON)
  assert result["n"] == 5
  assert "--mode 'tf1'" in capsys.readouterr().out
  with np.load(out) as f:
    assert str(f["mode"]) == "tf1" and int(f["n"]) == 5
    assert str(f["weights_sha256"]) == _hash_of(_variables())
    assert f["image_size"].tolist() == [32, 32]
    mu = f["mu"]
  with jax.default_matmul_precision("highest"):  # The Inception on TF1-preprocessed images.
    pool3 = np.asarray(evaluate.inception_outputs(_variables(), a, mode="tf1")["pool3"])
  np.testing.assert_allclose(mu, pool3.astype(np.float64).mean(axis=0), rtol=1e-5, atol=1e-6)


def _stats_file(path, provenance=None, n=50):
  """A small (4-d) statistics file, with what save_statistics records."""
  from jaxgan.metrics.statistics import save_statistics
  x = np.random.default_rng(len(str(path))).standard_normal((n, 4))
  save_statistics(path, x.mean(axis=0), np.cov(x, rowvar=False), n, provenance)
  return str(path)


@pytest.mark.parametrize("case", ["mode", "size", "weights"])
def test_fid_refuses_sides_made_differently(data, tmp_path, capsys, case):
  from jaxgan.metrics.statistics import Provenance
  root = data[0]
  ours = Provenance("pytorch", "a" * 64, (32, 32))
  if case == "mode":  # Images, default --mode pytorch, against a TF1 file: refused before
    sides = [str(root / "a.npz"), _stats_file(tmp_path / "tf1.npz",  # any weights load.
                                              Provenance("tf1", "a" * 64, (32, 32)))]
    words = "--mode 'pytorch' vs 'tf1'"
  elif case == "size":
    sides = [str(root / "a"), _stats_file(tmp_path / "s64.npz",
                                          Provenance("pytorch", "a" * 64, (64, 64)))]
    words = "image size 32x32 vs 64x64"
  else:
    sides = [_stats_file(tmp_path / "ours.npz", ours),
             _stats_file(tmp_path / "w.npz", Provenance("pytorch", "b" * 64, (32, 32)))]
    words = r"Inception weights SHA-256 aaaaaaaaaaaa\.\.\. vs bbbbbbbbbbbb\.\.\."
  assert main(["fid", *sides, "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert re.search(f"^error: {re.escape(sides[0])} and {re.escape(sides[1])} were made "
                   f"differently \\({words}", err), err
  assert len(err.strip().splitlines()) == 1


def test_fid_accepts_a_plain_pytorch_fid_file_with_a_warning(tmp_path, capsys):
  from jaxgan.metrics.statistics import Provenance
  ours = _stats_file(tmp_path / "ours.npz", Provenance("pytorch", "a" * 64, (32, 32)))
  plain = tmp_path / "theirs.npz"
  with np.load(ours) as f:  # pytorch-fid's --save-stats: mu and sigma only.
    np.savez(plain, mu=f["mu"], sigma=f["sigma"])
  assert main(["fid", ours, str(plain), "--no-progress"]) == 0
  out, err = capsys.readouterr()
  assert "FID: 0.000000" in out
  assert f"warning: {plain} records no provenance" in err and "--mode 'pytorch'" in err


def test_is_with_shuffle_seed(data):
  root, _, b = data
  result = run(["is", str(root / "b.npz"), "--splits", "2", "--shuffle-seed", "2020"] + COMMON)
  logits = _direct(b)["logits"].astype(np.float64)
  order = np.random.RandomState(2020).permutation(5)  # torch-fidelity's shuffle.
  mean, std = inception_score(logits[order], splits=2)
  np.testing.assert_allclose([result["is_mean"], result["is_std"]], [mean, std], rtol=1e-5)
  assert result["shuffle_seed"] == 2020


def test_prdc_command(data, tmp_path, capsys):
  from test_prdc import reference_prdc
  root, a, b = data
  result = run(["prdc", str(root / "a"), str(root / "b.npz"), "--k-pr", "2", "--k-dc", "2",
                "--json", str(tmp_path / "p.json")] + COMMON)
  want = reference_prdc(_direct(a)["pool3"], _direct(b)["pool3"], 2, 2)
  for k, v in want.items():
    assert result[k] == pytest.approx(v, abs=1e-12), (k, result, want)
  assert result["n_real"] == result["n_fake"] == 5 and result["mode"] == "pytorch"
  assert json.loads((tmp_path / "p.json").read_text()) == result
  assert "precision: " in capsys.readouterr().out


def test_prdc_needs_more_images_than_k(data, capsys):
  from jaxgan import cli
  root = data[0]
  with pytest.raises(SystemExit) as exit_info:  # Through `jaxgan prdc`; before the Inception.
    cli.main(["prdc", str(root / "a"), str(root / "b.npz"), "--no-progress"])
  assert exit_info.value.code == 2
  assert "error: real has 5 samples: k-NN radii with k = 5 need more" in capsys.readouterr().err


@pytest.mark.parametrize("args,words", [
    (["--max-images", "-3"], "--max-images: must be a positive integer, got -3"),
    (["--splits", "0"], "--splits: must be a positive integer"),
    (["--splits", "11"], "10 images for 11 splits"),
])
def test_counts_are_checked_before_the_inception(tmp_path, capsys, monkeypatch, args, words):
  np.savez(tmp_path / "x.npz", x_train=np.zeros((10, 8, 8, 3), np.uint8))

  def no_inception(*a, **k):
    raise AssertionError("the Inception should not have been built")
  monkeypatch.setattr("jaxgan.metrics.__main__.extractor_from_args", no_inception)
  try:
    status = main(["is", str(tmp_path / "x.npz"), "--no-progress", *args])
  except SystemExit as e:  # argparse's own exit for a bad value.
    status = e.code
  assert status == 2 and words in capsys.readouterr().err
