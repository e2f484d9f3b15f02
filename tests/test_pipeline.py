"""Minibatches addressed by step: epochs are permutations, shapes are static, hosts split."""

import numpy as np
import pytest

from jaxgan.data.images import DataError, ImageDataset
from jaxgan.data.pipeline import ImageBatches


def _dataset(n=10, labels=True):
  imgs = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 1), np.uint8)
  return ImageDataset(imgs, np.arange(n, dtype=np.int32) % 3 if labels else None,
                      3 if labels else 0)


def test_every_epoch_visits_each_example_once_across_batch_boundaries():
  batches = ImageBatches(_dataset(10), batch_size=3, n_critic=2, seed=5)
  order = np.concatenate([batches.indices(s).ravel() for s in range(10)])  # 60 = 6 epochs.
  for epoch in range(6):
    assert sorted(order[epoch * 10:(epoch + 1) * 10]) == list(range(10))
  assert not np.array_equal(order[:10], order[10:20])  # Reshuffled each epoch.


def test_batches_are_a_function_of_seed_and_step():
  a = ImageBatches(_dataset(), 4, 1, seed=0)
  b = ImageBatches(_dataset(), 4, 1, seed=0)
  c = ImageBatches(_dataset(), 4, 1, seed=1)
  np.testing.assert_array_equal(a.indices(7), b.indices(7))  # No history needed.
  assert any(not np.array_equal(a.indices(s), c.indices(s)) for s in range(5))


def test_values_shapes_and_labels():
  batch = ImageBatches(_dataset(), 4, 2, seed=0).batch(3)
  assert batch["image"].shape == (2, 4, 4, 4, 1) and batch["image"].dtype == np.float32
  idx = ImageBatches(_dataset(), 4, 2, seed=0).indices(3)
  np.testing.assert_allclose(batch["image"][..., 0, 0, 0], idx / 127.5 - 1.0)
  np.testing.assert_array_equal(batch["label"], idx % 3)
  assert "label" not in ImageBatches(_dataset(labels=False), 4, 1).batch(0)


def test_hosts_read_disjoint_slices_of_the_global_batch():
  full = ImageBatches(_dataset(20), 8, 2, seed=3).indices(4)
  parts = [ImageBatches(_dataset(20), 8, 2, seed=3, process_index=p, process_count=4).batch(4)
           for p in range(4)]
  got = np.concatenate([p["label"] for p in parts], axis=1)
  np.testing.assert_array_equal(got, full % 3)
  assert all(p["image"].shape == (2, 2, 4, 4, 1) for p in parts)


def test_fewer_examples_than_a_batch_and_indivisible_hosts():
  with pytest.raises(DataError, match="fewer than one batch"):
    ImageBatches(_dataset(5), 8)
  with pytest.raises(DataError, match="number of hosts"):
    ImageBatches(_dataset(20), 6, process_count=4)
