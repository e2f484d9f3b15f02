"""Image datasets: local .npz and folders, TFDS through its mock, and clear errors."""

import matplotlib.image
import numpy as np
import pytest

from jaxgan.data import images
from jaxgan.data.images import DataError


def _npz(tmp_path, n=12, shape=(28, 28), labels=True, **overrides):
  rng = np.random.default_rng(0)
  arrays = {"x_train": rng.integers(0, 256, (n, *shape), dtype=np.uint8)}
  if labels:
    arrays["y_train"] = rng.integers(0, 10, n).astype(np.uint8)
  arrays.update(overrides)
  path = tmp_path / "data.npz"
  np.savez(path, **arrays)
  return path, arrays


def test_npz_like_the_shared_archives(tmp_path):
  path, arrays = _npz(tmp_path)
  ds = images.load_npz(path)
  assert ds.images.shape == (12, 28, 28, 1) and ds.images.dtype == np.uint8
  np.testing.assert_array_equal(ds.images[..., 0], arrays["x_train"])
  np.testing.assert_array_equal(ds.labels, arrays["y_train"])
  assert ds.labels.dtype == np.int32 and ds.num_classes == int(arrays["y_train"].max()) + 1


def test_npz_rgb_without_labels(tmp_path):
  path, _ = _npz(tmp_path, shape=(32, 32, 3), labels=False)
  ds = images.load_npz(path)
  assert ds.shape == (32, 32, 3) and ds.labels is None and ds.num_classes == 0


@pytest.mark.parametrize("overrides,message", [
    ({"x_train": np.zeros((4, 28, 28), np.float32)}, "uint8"),
    ({"x_train": np.zeros((4, 28), np.uint8)}, "shape"),
    ({"x_train": np.zeros((4, 8, 8, 2), np.uint8)}, "shape"),
    ({"y_train": np.array([0, 1, -1, 2] * 3)}, "out of range"),
    ({"y_train": np.zeros(5, np.int64)}, "labels must be integers of shape (12,)"),
])
def test_npz_bad_arrays(tmp_path, overrides, message):
  path, _ = _npz(tmp_path, **overrides)
  with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
    images.load_npz(path)


def test_missing_file_and_missing_split(tmp_path):
  with pytest.raises(DataError, match="no such file"):
    images.load_npz(tmp_path / "nope.npz")
  path, _ = _npz(tmp_path)
  with pytest.raises(DataError, match="no array 'x_test'"):
    images.load_npz(path, split="test")


def test_labels_beyond_num_classes(tmp_path):
  path, _ = _npz(tmp_path, y_train=np.full(12, 7))
  with pytest.raises(DataError, match="out of range"):
    images.load_npz(path, num_classes=5)


def test_folder_with_class_subfolders(tmp_path):
  rng = np.random.default_rng(1)
  written = {}
  for cls in ("cat", "dog"):
    (tmp_path / cls).mkdir()
    for i in range(3):
      img = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
      matplotlib.image.imsave(tmp_path / cls / f"{i}.png", img)
      written[(cls, i)] = img
  (tmp_path / "dog" / "notes.txt").write_text("not an image")
  ds = images.load_folder(tmp_path)
  assert ds.images.shape == (6, 8, 8, 3) and ds.num_classes == 2
  np.testing.assert_array_equal(ds.labels, [0, 0, 0, 1, 1, 1])
  np.testing.assert_array_equal(ds.images[4], written[("dog", 1)])  # PNG is lossless.


def test_flat_folder_has_no_labels_and_mixed_sizes_are_refused(tmp_path):
  matplotlib.image.imsave(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
  assert images.load_folder(tmp_path).labels is None
  matplotlib.image.imsave(tmp_path / "b.png", np.zeros((9, 8, 3), np.uint8))
  with pytest.raises(DataError, match="differ in shape"):
    images.load_folder(tmp_path)
  with pytest.raises(DataError, match="no such folder"):
    images.load_folder(tmp_path / "missing")


def test_tfds_through_its_mock():
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=7):
    ds = images.load_tfds("mnist", data_dir=None)
  assert ds.images.shape == (7, 28, 28, 1) and ds.images.dtype == np.uint8
  assert ds.labels.shape == (7,) and ds.num_classes == 10 and ds.labels.max() < 10


def test_unknown_tfds_name():
  with pytest.raises(DataError, match="mnist"):
    images.load_tfds("imagenet")
