"""``jaxgan prepare``: folders, .npz and TFDS sets -> ArrayRecord shards, resized as stated."""

import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("grain")  # The 'grain' extra: pip install -e '.[grain]'.

from jaxgan.data.grain_source import RecordReader
from jaxgan.data.images import DataError
from jaxgan.prepare import main, prepare, resize


def _read_all(path):
  reader = RecordReader(path)
  pairs = [reader.read(i) for i in range(len(reader))]
  return np.stack([p[0] for p in pairs]), np.array([p[1] for p in pairs]), reader


def test_filters_and_center_crop_match_numpy():
  rng = np.random.default_rng(0)
  x = rng.integers(0, 256, (8, 8, 3), np.uint8)
  mean = x.reshape(4, 2, 4, 2, 3).astype(np.float64).mean(axis=(1, 3))
  box = resize(x, 4, "box", "none", "x")
  assert box.shape == (4, 4, 3)
  assert np.abs(box - mean).max() <= 1  # The 2x2 block mean, in Pillow's fixed point.
  np.testing.assert_array_equal(resize(x, 4, "nearest", "none", "x"), x[1::2, 1::2])
  assert np.abs(resize(x, 4, "lanczos", "none", "x") - mean).max() > 8  # Not a box.
  wide = rng.integers(0, 256, (6, 10, 1), np.uint8)
  np.testing.assert_array_equal(resize(wide, 6, "box", "center", "x"), wide[:, 2:8])
  with pytest.raises(DataError, match="x: 6x10 is not square; pass --crop center"):
    resize(wide, 6, "box", "none", "x")


def test_a_folder_with_classes_round_trips_losslessly_with_its_metadata(tmp_path):
  rng = np.random.default_rng(1)
  images = rng.integers(0, 256, (10, 12, 12, 3), np.uint8)
  for i, im in enumerate(images):
    (tmp_path / "src" / f"class_{i % 2}").mkdir(parents=True, exist_ok=True)
    Image.fromarray(im).save(tmp_path / "src" / f"class_{i % 2}" / f"{i}.png")
  Image.fromarray(images[0][..., 0]).save(tmp_path / "src" / "class_1" / "gray.png")
  meta = prepare(str(tmp_path / "src"), tmp_path / "out", resolution=12, filter_name="bicubic",
                 shard_size=4, workers=0, progress=False)
  got, labels, reader = _read_all(tmp_path / "out")
  order = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]  # class_0/0, 2, ... then class_1/1, 3, ...
  np.testing.assert_array_equal(got[:10], images[order])  # Sorted: "9.png" < "gray.png".
  np.testing.assert_array_equal(got[10], np.repeat(images[0][..., :1], 3, -1))  # Replicated.
  np.testing.assert_array_equal(labels, [0] * 5 + [1] * 6)
  saved = json.loads((tmp_path / "out" / "dataset.json").read_text())
  assert saved == meta and reader.num_classes == 2 and reader.shape == (12, 12, 3)
  assert (saved["resolution"], saved["resize_filter"], saved["crop"]) == (12, "bicubic", "none")
  assert saved["shard_sizes"] == [4, 4, 3] and saved["class_names"] == ["class_0", "class_1"]


def test_an_npz_is_resized_with_the_stated_filter(tmp_path):
  rng = np.random.default_rng(2)
  x = rng.integers(0, 256, (5, 8, 8), np.uint8)
  np.savez(tmp_path / "a.npz", x_train=x, y_train=np.arange(5) % 3)
  assert main([str(tmp_path / "a.npz"), str(tmp_path / "out"), "--resolution", "4",
               "--filter", "box", "--workers", "0", "--quiet"]) == 0
  got, labels, reader = _read_all(tmp_path / "out")
  mean = x.reshape(5, 4, 2, 4, 2).astype(np.float64).mean(axis=(2, 4))
  assert got.shape == (5, 4, 4, 1) and np.abs(got[..., 0] - mean).max() <= 1
  np.testing.assert_array_equal(labels, np.arange(5) % 3)
  assert reader.metadata["resize_filter"] == "box" and reader.num_classes == 3


def test_undecodable_images_stop_with_their_name_or_are_skipped_and_counted(tmp_path, capsys):
  src = tmp_path / "src"
  src.mkdir()
  for i in range(4):
    Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(src / f"{i}.png")
  (src / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
  assert main([str(src), str(tmp_path / "a"), "--resolution", "8", "--workers", "0",
               "--quiet"]) == 2
  assert "2.png: cannot decode this image" in capsys.readouterr().err
  assert not (tmp_path / "a" / "dataset.json").exists()  # Incomplete: no metadata.
  assert main([str(src), str(tmp_path / "b"), "--resolution", "8", "--workers", "0",
               "--on-error", "skip", "--quiet"]) == 0
  assert "3 examples" in capsys.readouterr().out
  got, _, reader = _read_all(tmp_path / "b")
  np.testing.assert_array_equal(got[:, 0, 0, 0], [0, 1, 3])
  assert reader.metadata["num_skipped"] == 1 and "2.png" in reader.metadata["skipped"][0]


def test_bad_arguments_are_named(tmp_path):
  (tmp_path / "full").mkdir()
  (tmp_path / "full" / "x").write_text("")
  np.savez(tmp_path / "a.npz", x_train=np.zeros((2, 4, 4), np.uint8))
  with pytest.raises(DataError, match="exists and is not an empty folder"):
    prepare(str(tmp_path / "a.npz"), tmp_path / "full", resolution=4, progress=False)
  with pytest.raises(DataError, match="no such folder or .npz file"):
    prepare(str(tmp_path / "nothing"), tmp_path / "o", resolution=4, progress=False)
  with pytest.raises(DataError, match="--resolution 0"):
    prepare(str(tmp_path / "a.npz"), tmp_path / "o", resolution=0, progress=False)
  np.savez(tmp_path / "c.npz", x_train=np.zeros((2, 4, 4, 3), np.uint8))
  with pytest.raises(DataError, match="example 0: a colour image where --channels 1"):
    prepare(str(tmp_path / "c.npz"), tmp_path / "o2", resolution=4, channels=1, progress=False)


@pytest.mark.slow
def test_worker_processes_write_the_same_shards(tmp_path):
  rng = np.random.default_rng(3)
  np.savez(tmp_path / "a.npz", x_train=rng.integers(0, 256, (30, 16, 16, 3), np.uint8))
  prepare(str(tmp_path / "a.npz"), tmp_path / "w0", resolution=8, workers=0, progress=False)
  prepare(str(tmp_path / "a.npz"), tmp_path / "w2", resolution=8, workers=2, progress=False)
  for shard in json.loads((tmp_path / "w0" / "dataset.json").read_text())["shards"]:
    assert (tmp_path / "w0" / shard).read_bytes() == (tmp_path / "w2" / shard).read_bytes()


@pytest.mark.slow
def test_a_tfds_set_is_converted_and_streamed(tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  from jaxgan.data.grain_source import TfdsReader
  with tfds.testing.mock_data(num_examples=6):
    meta = prepare("tfds:mnist", tmp_path / "out", resolution=14, filter_name="box",
                   workers=0, progress=False)
    ds = tfds.as_numpy(tfds.load("mnist", split="train", shuffle_files=False))
    want = [ex for ex, _ in zip(ds, range(6))]
    try:
      direct = TfdsReader("mnist", "train")
    except DataError as e:  # This TFDS version's mock has no data_source.
      direct = None
      print(e)
    if direct is not None:  # Streamed by random access, as the training loop would.
      from jaxgan import parallel
      from jaxgan.data.grain_source import GrainSource
      source = GrainSource(direct, 4, 1, 0, parallel.batch_sharding(parallel.make_mesh()),
                           workers=0)
      batch = source.batch(1)
      assert batch["image"].shape == (1, 4, 28, 28, 1) and batch["label"].shape == (1, 4)
      assert -1 <= float(batch["image"].min()) < float(batch["image"].max()) <= 1
  got, labels, _ = _read_all(tmp_path / "out")
  assert meta["num_examples"] == 6 and meta["num_classes"] == 10 and got.shape == (6, 14, 14, 1)
  for g, ex in zip(got, want):
    mean = ex["image"].reshape(14, 2, 14, 2).astype(np.float64).mean(axis=(1, 3))
    assert np.abs(g[..., 0] - mean).max() <= 1
  np.testing.assert_array_equal(labels, [ex["label"] for ex in want])
  if direct is not None:
    assert direct.shape == (28, 28, 1) and direct.num_classes == 10


def test_raw_and_png_records_hold_the_same_pixels_and_bad_records_are_named(tmp_path):
  import msgpack
  from jaxgan.data import records
  x = np.random.default_rng(4).integers(0, 256, (6, 8, 8, 3), np.uint8)
  np.savez(tmp_path / "a.npz", x_train=x)
  for encoding in ("png", "raw"):
    prepare(str(tmp_path / "a.npz"), tmp_path / encoding, resolution=8, encoding=encoding,
            progress=False)
    got, _, reader = _read_all(tmp_path / encoding)
    np.testing.assert_array_equal(got, x)
    assert reader.metadata["encoding"] == encoding
  with pytest.raises(DataError, match="r7: not a jaxgan record"):
    records.decode_example(b"\x93garbage", "r7")
  short = msgpack.packb({"image": b"\0" * 10, "encoding": "raw", "shape": [8, 8, 3], "label": 0})
  with pytest.raises(DataError, match="r8: a 'raw' record of 10 bytes for shape"):
    records.decode_example(short, "r8")
