"""Tests for jaxgan.metrics.reference: per-class FID and the checks behind ``jaxgan evaluate``'s
``--ref``, ``--prdc`` and ``--per-class``.

Per-class FIDs are compared with the Frechet distance written out here with numpy and
scipy (pytorch-fid's formula: ||mu1 - mu2||^2 + tr S1 + tr S2 - 2 tr sqrtm(S1 S2)).
The end-to-end run of ``jaxgan evaluate --per-class --prdc`` is marked slow: each
per-class FID of 2048-d features from a few images takes pytorch-fid's CPU sqrtm route.
"""

from __future__ import annotations

import functools
import json
import warnings

import numpy as np
import pytest
from scipy import linalg

from jaxgan import inception_weights
from jaxgan.metrics import evaluate
from jaxgan.metrics.reference import check_reference, per_class_fid
from jaxgan.metrics.statistics import Provenance, Statistics, StatisticsError


def _fid(x, y):
  mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
  s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
  covmean = linalg.sqrtm(s1 @ s2).real
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_per_class_fid_matches_numpy():
  rng = np.random.default_rng(0)
  fake_labels, real_labels = rng.integers(0, 3, 200), np.repeat([0, 1, 2, 3], 40)
  fake = rng.standard_normal((200, 4)) + fake_labels[:, None]
  real = 1.2 * rng.standard_normal((160, 4)) + real_labels[:, None]
  got = per_class_fid(fake, fake_labels, real, real_labels)
  for c in range(3):
    want = _fid(fake[fake_labels == c], real[real_labels == c])
    assert got["fid_per_class"][c] == pytest.approx(want, rel=1e-9)
    assert got["n_per_class"][c] == [int(np.sum(fake_labels == c)), 40]
  assert got["fid_per_class"][3] is None and got["n_per_class"][3] == [0, 40]  # Never drawn.
  assert got["fid_per_class_mean"] == pytest.approx(np.mean(got["fid_per_class"][:3]))


@functools.lru_cache(maxsize=None)
def _extractor(mode="pytorch"):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    return evaluate.FeatureExtractor(inception_weights.random_variables(0), 4, mode=mode)


def test_check_reference_refuses_what_the_options_cannot_use(tmp_path):
  images = np.zeros((6, 8, 8, 3), np.uint8)
  unlabelled = evaluate.array_source(images, "imgs.npz[x_train]")
  labelled = evaluate.array_source(images, "lab.npz[x_train]", labels=np.arange(6) % 2)
  stats = Statistics(np.zeros(2), np.eye(2), None, "stats.npz")
  ex = _extractor()
  cases = [
      (None, dict(prdc=True), ValueError, "give --ref"),
      (stats, dict(prdc=True), evaluate.SourceError, "stats.npz: holds statistics.*--prdc"),
      (stats, dict(per_class=True, conditional=True), evaluate.SourceError, "--per-class need"),
      (labelled, dict(per_class=True), ValueError, "class-conditional generator"),
      (unlabelled, dict(per_class=True, conditional=True), evaluate.SourceError,
       r"imgs.npz\[x_train\]: no labels; --per-class needs a labelled .npz"),
      (labelled, dict(), StatisticsError, "image size 16x16 vs 8x8"),  # Generator 16x16.
  ]
  for reference, options, error, words in cases:
    size = (16, 16) if "image size" in words else (8, 8)
    with pytest.raises(error, match=words):
      check_reference(reference, ex, size, **options)
  check_reference(labelled, ex, (8, 8), prdc=True, per_class=True, conditional=True)
  check_reference(None, ex, (8, 8))
  tf1 = Statistics(np.zeros(2), np.eye(2), None, "tf1.npz", Provenance("tf1", None, (8, 8)))
  with pytest.raises(StatisticsError, match="the generator and tf1.npz were made differently "
                     r"\(--mode 'pytorch' vs 'tf1'\)"):
    check_reference(tf1, ex, (8, 8))  # Before any image is generated.


def test_labels_come_with_images_from_npz(tmp_path):
  np.savez(tmp_path / "a.npz", x_train=np.zeros((4, 8, 8), np.uint8), y_train=[0, 1, 1, 0])
  np.savez(tmp_path / "b.npz", x=np.zeros((4, 8, 8, 3), np.uint8), y=np.arange(4))
  np.savez(tmp_path / "c.npz", images=np.zeros((4, 8, 8, 3), np.uint8), y=np.arange(4))
  np.savez(tmp_path / "d.npz", x_train=np.zeros((4, 8, 8), np.uint8), y_train=[0.5] * 4)
  a = evaluate.open_source(tmp_path / "a.npz", max_images=3)
  assert a.labels.tolist() == [0, 1, 1] and a.image_size == (8, 8)
  assert evaluate.open_source(tmp_path / "b.npz").labels.tolist() == [0, 1, 2, 3]
  assert evaluate.open_source(tmp_path / "c.npz").labels is None  # Not named like the images.
  with pytest.raises(evaluate.SourceError, match=r"d.npz\[x_train\]: labels must be integers"):
    evaluate.open_source(tmp_path / "d.npz")


@pytest.mark.slow  # Training one step, the Inception on CPU, two 2048-d sqrtm per class.
def test_evaluate_per_class_and_prdc_end_to_end(tmp_path, capsys):
  from configs import mnist_cdcgan
  from jaxgan import cli
  from jaxgan.train import train_and_evaluate
  rng = np.random.default_rng(0)
  x, y = rng.integers(0, 256, (16, 28, 28), dtype=np.uint8), np.arange(16) % 2
  np.savez(tmp_path / "d.npz", x_train=x, y_train=y)
  c = mnist_cdcgan.get_config()
  c.data.name, c.data.path, c.data.batch_size = "npz", str(tmp_path / "d.npz"), 8
  c.model.features, c.model.latent_dim, c.train.steps, c.train.plot_every = 4, 8, 1, 1
  train_and_evaluate(c, str(tmp_path / "run"))
  base = ["evaluate", "--workdir", str(tmp_path / "run"), "-n", "16", "--batch-size", "8",
          "--splits", "2", "--random-weights", "--no-progress"]
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    cli.main(base + ["--ref", str(tmp_path / "d.npz"), "--per-class", "--prdc", "--mode",
                     "clean", "--out", str(tmp_path / "r.json")])
  result = json.loads((tmp_path / "r.json").read_text())
  assert result["mode"] == "clean" and result["n"] == 16 and result["n_ref"] == 16
  assert len(result["fid_per_class"]) == 2 and [n[1] for n in result["n_per_class"]] == [8, 8]
  assert sum(n[0] for n in result["n_per_class"]) == 16
  assert all(0 <= result[k] <= 1 for k in ("precision", "recall", "coverage"))
  assert "per-class FIDs rest on as few as" in capsys.readouterr().err
  np.savez(tmp_path / "nolabels.npz", x_train=x)
  with pytest.raises(SystemExit) as exit_info:
    cli.main(base + ["--ref", str(tmp_path / "nolabels.npz"), "--per-class"])
  assert exit_info.value.code == 2 and "no labels" in capsys.readouterr().err
