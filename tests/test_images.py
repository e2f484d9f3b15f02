"""Image datasets: local .npz and folders, TFDS through its mock, and clear errors; the
shared image decoder and the uint8 <-> [-1, 1] scalings.

Expected decodings come from Pillow called directly (pytorch-fid's ``convert('RGB')``);
expected scalings from numpy written out here.
"""

import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import pytest
from PIL import Image

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


# ----------------------------------------------------------------------------- decoding


def _write(path, array, mode=None):
  Image.fromarray(array, mode=mode).save(path)
  return path


def test_read_image_rgb_is_pillows_convert_rgb(tmp_path):
  rng = np.random.default_rng(2)
  rgba = rng.integers(0, 256, (6, 5, 4), dtype=np.uint8)
  gray = rng.integers(0, 256, (6, 5), dtype=np.uint8)
  files = [_write(tmp_path / "rgba.png", rgba), _write(tmp_path / "gray.png", gray),
           _write(tmp_path / "gray.pgm", gray), _write(tmp_path / "rgb.ppm", rgba[..., :3]),
           _write(tmp_path / "rgb.tif", rgba[..., :3]), _write(tmp_path / "rgb.bmp", rgba[..., :3])]
  Image.fromarray(rgba[..., :3]).convert("P").save(tmp_path / "pal.gif")
  for f in files + [tmp_path / "pal.gif"]:
    with Image.open(f) as im:
      want = np.asarray(im.convert("RGB"))
    got = images.read_image(f, rgb=True)
    assert got.dtype == np.uint8 and got.shape == (6, 5, 3)
    np.testing.assert_array_equal(got, want)
  np.testing.assert_array_equal(images.read_image(files[0], rgb=True), rgba[..., :3])


def test_read_image_for_training_keeps_grayscale(tmp_path):
  rng = np.random.default_rng(3)
  gray = rng.integers(0, 256, (4, 7), dtype=np.uint8)
  np.testing.assert_array_equal(images.read_image(_write(tmp_path / "g.png", gray)),
                                gray[..., None])
  wide = rng.integers(0, 65536, (4, 7)).astype(np.uint16)  # A 16-bit PNG.
  Image.fromarray(wide).save(tmp_path / "g16.png")
  np.testing.assert_array_equal(images.read_image(tmp_path / "g16.png"),
                                np.round(wide / 257.0).astype(np.uint8)[..., None])
  rgba = rng.integers(0, 256, (4, 7, 4), dtype=np.uint8)
  np.testing.assert_array_equal(images.read_image(_write(tmp_path / "c.png", rgba)),
                                rgba[..., :3])


@pytest.mark.parametrize("content", [b"not an image at all", "truncated"])
def test_broken_files_name_the_file(tmp_path, content):
  path = tmp_path / "broken.png"
  if content == "truncated":
    _write(tmp_path / "whole.png", np.random.default_rng(4).integers(0, 256, (64, 64, 3),
                                                                    dtype=np.uint8))
    content = (tmp_path / "whole.png").read_bytes()[:400]
    (tmp_path / "whole.png").unlink()
  path.write_bytes(content)
  for rgb in (False, True):
    with pytest.raises(DataError, match=f"{path}: cannot decode"):
      images.read_image(path, rgb=rgb)
  _write(tmp_path / "good.png", np.zeros((64, 64, 3), np.uint8))
  with pytest.raises(DataError, match="broken.png: cannot decode"):
    images.load_folder(tmp_path)


def test_one_suffix_list_for_training_and_metrics(tmp_path):
  from jaxgan.metrics import evaluate
  assert evaluate.IMAGE_SUFFIXES is images.IMAGE_SUFFIXES
  assert evaluate.SourceError is DataError
  pytorch_fid = {".bmp", ".jpg", ".jpeg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp"}
  assert set(images.IMAGE_SUFFIXES) == pytorch_fid | {".gif"}
  colours = np.array([[0, 10, 20], [30, 40, 50], [60, 70, 80]], np.uint8)
  for i, suffix in enumerate((".ppm", ".tif", ".gif")):  # Formerly metrics-only / training-only.
    _write(tmp_path / f"{i}{suffix}", np.broadcast_to(colours[i], (3, 3, 3)).copy())
  ds = images.load_folder(tmp_path)
  assert ds.images.shape == (3, 3, 3, 3)
  np.testing.assert_array_equal(ds.images[:, 1, 1], colours)
  _write(tmp_path / "3.pgm", np.full((3, 3), 9, np.uint8))  # Grayscale: one channel.
  with pytest.raises(DataError, match="differ in shape"):
    images.load_folder(tmp_path)


# ----------------------------------------------------------------------------- scaling


def _levels_and_boundaries() -> np.ndarray:
  """float32 values in [-1.1, 1.1]: every level, every half-way point and its neighbours."""
  k = np.arange(-10, 266, dtype=np.float64)
  x = np.concatenate([k / 127.5 - 1.0, (k + 0.5) / 127.5 - 1.0]).astype(np.float32)
  x = np.concatenate([x, np.nextafter(x, np.float32(2)), np.nextafter(x, np.float32(-2))])
  rng = np.random.default_rng(5)
  x = np.concatenate([x, rng.uniform(-1.2, 1.2, 10000), [-1, 0, 1]]).astype(np.float32)
  assert x.dtype == np.float32
  return x


def _to_uint8_reference(x: np.ndarray) -> np.ndarray:
  """IEEE float32 written out: y = fl(x + 1), p = fl(y * 127.5) (the product is exact in
  float64, then rounded once), round half to even, clip to [0, 255]."""
  y = x.astype(np.float32) + np.float32(1.0)
  p = (y.astype(np.float64) * 127.5).astype(np.float32)
  return np.clip(np.round(p), 0, 255).astype(np.uint8)


def test_to_uint8_numpy_and_jax_agree_with_the_reference():
  x = _levels_and_boundaries()
  ref = _to_uint8_reference(x)
  got_np = images.to_uint8(x)
  assert isinstance(got_np, np.ndarray) and got_np.dtype == np.uint8
  np.testing.assert_array_equal(got_np, ref)
  xj = jnp.asarray(x)
  got_jax = images.to_uint8(xj)
  assert isinstance(got_jax, jax.Array) and got_jax.dtype == jnp.uint8
  assert got_jax.devices() == xj.devices()  # Stays where it was.
  np.testing.assert_array_equal(np.asarray(got_jax), ref)
  np.testing.assert_array_equal(np.asarray(jax.jit(images.to_uint8)(xj)), ref)
  bf16 = images.to_uint8(xj.astype(jnp.bfloat16))  # Computed in float32.
  np.testing.assert_array_equal(np.asarray(bf16),
                                _to_uint8_reference(np.asarray(xj.astype(jnp.bfloat16),
                                                               np.float32)))


def test_to_uint8_is_the_metrics_former_rounding_bit_for_bit():
  """generator_features(quantize=True) used clip(round((x + 1) / 2 * 255)) in float32 under
  jit; the shared helper computes (x + 1) * 127.5, the same single rounding."""
  x = jnp.asarray(_levels_and_boundaries())

  @jax.jit
  def former(v):
    u = (v.astype(jnp.float32) + 1.0) / 2.0
    return jnp.clip(jnp.round(u * 255.0), 0, 255).astype(jnp.uint8)

  np.testing.assert_array_equal(np.asarray(jax.jit(images.to_uint8)(x)), np.asarray(former(x)))
  from jaxgan.metrics.evaluate import _generated_to_images
  converted, finite = _generated_to_images(x.reshape(1, 1, -1, 1)[..., :1], True)
  np.testing.assert_array_equal(np.asarray(converted).ravel(), np.asarray(former(x)))
  assert bool(finite)


def test_to_model_range_round_trips_and_keeps_the_array_type():
  levels = np.arange(256, dtype=np.uint8)
  scaled = images.to_model_range(levels)
  assert isinstance(scaled, np.ndarray) and scaled.dtype == np.float32
  np.testing.assert_allclose(scaled, levels / 127.5 - 1.0, rtol=0, atol=1e-7)
  np.testing.assert_array_equal(images.to_uint8(scaled), levels)
  on_device = images.to_model_range(jnp.asarray(levels))
  assert isinstance(on_device, jax.Array) and on_device.dtype == jnp.float32
  np.testing.assert_array_equal(np.asarray(images.to_uint8(on_device)), levels)


@pytest.mark.parametrize("content,needle", [
    (b"not a zip at all", "not a readable .npz archive"),
    ("truncated", r"not a readable .npz archive \(BadZipFile"),
    ("object", "Object arrays cannot be loaded"),
    ("pickle", "not a readable .npz archive"),
])
def test_files_that_are_not_npz_archives_are_named(tmp_path, content, needle):
  import pickle
  path = tmp_path / "bad.npz"
  if content == "truncated":
    np.savez(path, x_train=np.zeros((4, 8, 8), np.uint8))
    path.write_bytes(path.read_bytes()[:200])
  elif content == "object":
    np.savez(path, x_train=np.array([object(), 1], dtype=object))
  elif content == "pickle":
    path.write_bytes(pickle.dumps({"x_train": 1}))
  else:
    path.write_bytes(content)
  with pytest.raises(images.DataError, match=needle) as info:
    images.load_npz(path)
  assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_sparse_labels_are_refused_dense_gaps_are_kept(tmp_path):
  x = np.zeros((10, 8, 8), np.uint8)
  np.savez(tmp_path / "stray.npz", x_train=x, y_train=np.array([0] * 9 + [999]))
  with pytest.raises(images.DataError, match="up to 999, so there would be 1000 classes, but "
                     "only 2 of them occur"):
    images.load_npz(tmp_path / "stray.npz")
  np.savez(tmp_path / "gap.npz", x_train=x, y_train=np.array([0, 1, 2, 4] * 2 + [0, 1]))
  assert images.load_npz(tmp_path / "gap.npz").num_classes == 5  # One class missing: kept.


def _png(path, value=0):
  from PIL import Image
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)


def test_folder_layout_mistakes_are_named(tmp_path):
  for c in ("a", "b"):
    for i in range(2):
      _png(tmp_path / "ok" / c / f"{i}.png")
  (tmp_path / "ok" / "a" / "x.png").mkdir()  # A folder with an image's name: skipped.
  data = images.load_folder(tmp_path / "ok")
  assert data.images.shape[0] == 4 and data.num_classes == 2
  _png(tmp_path / "ok" / "stray.png")
  with pytest.raises(images.DataError, match="images at the top level .stray.png"):
    images.load_folder(tmp_path / "ok")
  (tmp_path / "ok" / "stray.png").unlink()
  (tmp_path / "ok" / "empty").mkdir()
  with pytest.raises(images.DataError, match="class folder 'empty' holds no images"):
    images.load_folder(tmp_path / "ok")
