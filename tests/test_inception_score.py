"""Tests for jaxgan.metrics.inception_score: closed forms and the original formula."""

from __future__ import annotations

import numpy as np
import pytest

from jaxgan.metrics.inception_score import inception_score


def test_uniform_predictions_score_one():
  mean, std = inception_score(np.zeros((50, 1008)), splits=10)
  assert abs(mean - 1.0) < 1e-12 and std < 1e-12


@pytest.mark.parametrize("k", [1, 2, 7, 10])
def test_confident_predictions_over_k_classes_score_k(k):
  # Each split holds every one of k classes equally often, predicted with certainty:
  # KL(one-hot || uniform over k) = log k, so IS = k in every split.
  splits, per_class = 5, 3
  labels = np.tile(np.repeat(np.arange(k), per_class), splits)
  logits = np.full((len(labels), 20), -1e4)
  logits[np.arange(len(labels)), labels] = 1e4
  mean, std = inception_score(logits, splits=splits)
  assert abs(mean - k) < 1e-9 and std < 1e-9


def test_matches_the_original_formula():
  rng = np.random.default_rng(0)
  logits = 3.0 * rng.standard_normal((103, 12))  # 103 = uneven splits.
  p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
  scores = []
  for i in range(10):  # openai/improved-gan's loop.
    part = p[(i * 103 // 10):((i + 1) * 103 // 10)]
    kl = part * (np.log(part) - np.log(np.mean(part, 0, keepdims=True)))
    scores.append(np.exp(np.mean(np.sum(kl, 1))))
  mean, std = inception_score(logits)
  np.testing.assert_allclose([mean, std], [np.mean(scores), np.std(scores)], rtol=1e-12)
  shuffled = logits[np.random.RandomState(2020).permutation(103)]
  np.testing.assert_allclose(inception_score(logits, shuffle_seed=2020),
                             inception_score(shuffled), rtol=1e-12)


def test_errors():
  with pytest.raises(ValueError, match="one sample per split"):
    inception_score(np.zeros((5, 3)), splits=10)
  with pytest.raises(ValueError, match="N, classes"):
    inception_score(np.zeros(5))
