"""``jaxgan prepare SRC DST``: an image set -> ArrayRecord shards for the streamed source.

    jaxgan prepare photos/ data/ffhq64 --resolution 64 --filter lanczos
    jaxgan prepare mnist.npz data/mnist --resolution 28
    jaxgan prepare tfds:celeb_a data/celeba64 --resolution 64 --filter box --crop center

SRC is a folder of images (one level of subfolders gives class labels, as for training),
a .npz archive (``x_<split>``, ``y_<split>``) or ``tfds:NAME`` (a TensorFlow Datasets
split). Every image is decoded by the training decoder (``jaxgan.data.images``), cut to
a square (``--crop center``: the central min(H, W) square; ``none``: it must be square),
resized to ``--resolution`` with ``--filter`` (Pillow's; 'box' is area averaging), and
written losslessly (``--encoding png``, or ``raw`` uint8 bytes, larger but read without
decoding) into ``DST/data-NNNNN.array_record`` shards of ``--shard-size`` examples, in
the source's order. ``DST/dataset.json`` records the
resolution, the filter, the crop and the source (the filter alone moves FID by whole
points, so it stays with the data); it is written last, so a folder without it is
incomplete. Decoding runs in ``--workers`` grain worker processes.

An image that cannot be decoded (or is colour where ``--channels 1`` is asked for) stops
the conversion with an error naming it (``--on-error raise``), or is left out and counted
(``--on-error skip``; the count and the first names are in dataset.json).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

from jaxgan.data import records
from jaxgan.data.images import DataError, list_folder, load_npz, read_image

FILTERS = ("lanczos", "bicubic", "bilinear", "box", "nearest", "hamming")
CROPS = ("center", "none")
INPUT_ERROR = 2  # As the jaxgan command: bad input (usage, data).
MAX_NAMED_SKIPS = 100


def resize(image: np.ndarray, resolution: int, filter_name: str, crop: str,
           what: str) -> np.ndarray:
  """uint8 (H, W, C) -> (resolution, resolution, C): crop to a square, then Pillow's
  resize with ``filter_name`` (no resize when the square already has that size)."""
  from PIL import Image
  h, w = image.shape[:2]
  if crop == "center":
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = image[top:top + side, left:left + side]
  elif h != w:
    raise DataError(f"{what}: {h}x{w} is not square; pass --crop center to cut the central "
                    "square")
  if image.shape[0] == resolution:
    return np.ascontiguousarray(image)
  pixels = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
  resample = getattr(Image.Resampling, filter_name.upper())
  out = np.asarray(pixels.resize((resolution, resolution), resample=resample))
  return out[..., None] if out.ndim == 2 else out


def _channels(image: np.ndarray, channels: int, what: str) -> np.ndarray:
  if image.shape[-1] == channels:
    return image
  if channels == 3:  # Grayscale replicated: lossless.
    return np.repeat(image, 3, axis=-1)
  raise DataError(f"{what}: a colour image where --channels 1 was asked for")


class Convert:
  """``i -> (record bytes or None, error)``: example i decoded, resized, encoded (the map
  run by the grain workers; picklable)."""

  def __init__(self, examples, resolution: int, filter_name: str, crop: str, channels: int,
               on_error: str, encoding: str = "png"):
    self.examples, self.resolution, self.filter = examples, resolution, filter_name
    self.crop, self.channels, self.on_error = crop, channels, on_error
    self.encoding = encoding

  def __call__(self, i: int) -> tuple[bytes | None, str]:
    try:
      image, label, what = self.examples.get(int(i))
      image = _channels(resize(image, self.resolution, self.filter, self.crop, what),
                        self.channels, what)
      return records.encode_example(image, label, self.encoding), ""
    except DataError as e:
      if self.on_error == "raise":
        raise
      return None, str(e)


class FolderExamples:
  def __init__(self, root: pathlib.Path):
    files, labels, classes = list_folder(root)
    self.root, self.names = root, [str(f.relative_to(root)) for f in files]
    self.labels, self.class_names = labels, classes

  def __len__(self) -> int:
    return len(self.names)

  def get(self, i: int):
    path = self.root / self.names[i]
    return read_image(path), None if self.labels is None else self.labels[i], str(path)

  def channels(self) -> int:
    return read_image(self.root / self.names[0]).shape[-1]


class ArrayExamples:
  def __init__(self, images: np.ndarray, labels: np.ndarray | None, source: str,
               class_names: list[str]):
    self.images, self.labels, self.source, self.class_names = images, labels, source, class_names

  def __len__(self) -> int:
    return len(self.images)

  def get(self, i: int):
    label = None if self.labels is None else int(self.labels[i])
    return self.images[i], label, f"{self.source}: example {i}"

  def channels(self) -> int:
    return self.get(0)[0].shape[-1]


def _tfds_examples(name: str, split: str, data_dir: str | None) -> ArrayExamples:
  """A TFDS split, read in order into memory as uint8 arrays (one resolution per set) or
  a list (sets whose images differ in size; they are resized one by one)."""
  try:
    import tensorflow_datasets as tfds
  except ImportError as e:
    raise DataError(f"tfds:{name} needs TensorFlow Datasets: pip install 'jaxgan[tfds]'") from e
  try:
    builder = tfds.builder(name, data_dir=data_dir)
    ds = builder.as_dataset(split=split, shuffle_files=False)
  except Exception as e:  # Unknown name, not downloaded, unknown split...
    raise DataError(f"tfds:{name}: cannot read split {split!r} ({type(e).__name__}: "
                    f"{' '.join(str(e).split())[:200]})") from None
  features = builder.info.features
  if "image" not in features:
    raise DataError(f"tfds:{name}: has no 'image' feature ({', '.join(features.keys())})")
  label = features["label"] if "label" in features else None
  images, labels = [], []
  for ex in tfds.as_numpy(ds):
    images.append(ex["image"])
    if label is not None:
      labels.append(int(ex["label"]))
  class_names = list(label.names) if label is not None else []
  same = len({im.shape for im in images}) == 1
  return ArrayExamples(np.stack(images) if same else images,
                       np.asarray(labels) if label is not None else None, f"tfds:{name}",
                       class_names)


def open_examples(src: str, split: str, data_dir: str | None):
  if src.startswith("tfds:"):
    return _tfds_examples(src[len("tfds:"):], split, data_dir)
  path = pathlib.Path(src)
  if path.is_dir():
    return FolderExamples(path)
  if path.suffix == ".npz" or path.is_file():
    ds = load_npz(path, split)
    names = [str(i) for i in range(ds.num_classes)]
    return ArrayExamples(ds.images, ds.labels, str(path), names)
  raise DataError(f"{src}: no such folder or .npz file (or use tfds:NAME)")


def _records(convert: Convert, n: int, workers: int):
  """The converted examples 0 .. n-1 in order, decoded in ``workers`` grain processes."""
  import grain
  from absl import flags
  ds = grain.MapDataset.range(n).map(convert).to_iter_dataset(
      grain.ReadOptions(num_threads=1, prefetch_buffer_size=64))
  if workers:
    if not flags.FLAGS.is_parsed():  # As in jaxgan.data.grain_source.
      flags.FLAGS.mark_as_parsed()
    ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers,
                                                     per_worker_buffer_size=64))
  return iter(ds)


def prepare(src: str, dst: str | pathlib.Path, resolution: int, filter_name: str = "lanczos",
            crop: str = "none", channels: int = 0, split: str = "train",
            data_dir: str | None = None, shard_size: int = 10000, workers: int = 0,
            on_error: str = "raise", encoding: str = "png", progress: bool = True) -> dict:
  """Converts ``src`` into shards in ``dst``; returns what ``dataset.json`` records."""
  from array_record.python.array_record_module import ArrayRecordWriter
  from tqdm import tqdm
  if filter_name not in FILTERS:
    raise DataError(f"--filter {filter_name!r}: one of {', '.join(FILTERS)}")
  if encoding not in records.ENCODINGS:
    raise DataError(f"--encoding {encoding!r}: one of {', '.join(records.ENCODINGS)}")
  if crop not in CROPS:
    raise DataError(f"--crop {crop!r}: one of {', '.join(CROPS)}")
  if not 1 <= resolution <= 8192 or shard_size < 1 or workers < 0 or channels not in (0, 1, 3):
    raise DataError(f"--resolution {resolution} (1..8192), --shard-size {shard_size} (>= 1), "
                    f"--workers {workers} (>= 0), --channels {channels} (0, 1 or 3)")
  dst = pathlib.Path(dst)
  if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
    raise DataError(f"{dst}: exists and is not an empty folder; choose a new DST")
  examples = open_examples(src, split, data_dir)
  n = len(examples)
  if n == 0:
    raise DataError(f"{src}: no examples")
  channels = channels or examples.channels()
  convert = Convert(examples, resolution, filter_name, crop, channels, on_error, encoding)
  dst.mkdir(parents=True, exist_ok=True)
  shards, sizes, skipped, writer = [], [], [], None
  try:
    bar = tqdm(total=n, desc=f"prepare {dst.name}", unit="img", disable=not progress,
               file=sys.stderr)
    for record, error in _records(convert, n, workers):
      bar.update(1)
      if record is None:
        skipped.append(error)
        bar.set_postfix(skipped=len(skipped))
        continue
      if writer is None or sizes[-1] == shard_size:
        if writer is not None:
          writer.close()
        shards.append(records.shard_name(len(shards)))
        sizes.append(0)
        writer = ArrayRecordWriter(str(dst / shards[-1]), records.WRITER_OPTIONS)
      writer.write(record)
      sizes[-1] += 1
    bar.close()
  finally:
    if writer is not None:
      writer.close()
  if not shards:
    raise DataError(f"{src}: none of the {n} examples could be read (first: {skipped[0]})")
  from PIL import __version__ as pillow_version
  class_names = list(examples.class_names)
  meta = {"num_examples": sum(sizes), "shape": [resolution, resolution, channels],
          "num_classes": len(class_names) if examples.labels is not None else 0,
          "class_names": class_names if examples.labels is not None else [],
          "resolution": resolution, "resize_filter": filter_name, "crop": crop,
          "encoding": encoding, "source": src, "split": split, "pillow": pillow_version,
          "num_skipped": len(skipped), "skipped": skipped[:MAX_NAMED_SKIPS],
          "shards": shards, "shard_sizes": sizes}
  return records.write_metadata(dst, meta)


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(
      prog="jaxgan prepare", description=__doc__.split("\n\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("src", help="image folder, .npz archive or tfds:NAME")
  p.add_argument("dst", help="new folder for the shards and dataset.json")
  p.add_argument("--resolution", type=int, required=True, help="side of the square images")
  p.add_argument("--filter", default="lanczos", choices=FILTERS, help="Pillow resize filter")
  p.add_argument("--crop", default="none", choices=CROPS,
                 help="center: cut the central square first; none: images must be square")
  p.add_argument("--channels", type=int, default=0, choices=(0, 1, 3),
                 help="1 or 3 (grayscale replicated to RGB); 0: as the first image")
  p.add_argument("--split", default="train", help="npz: reads x_<split>; tfds: the split")
  p.add_argument("--data-dir", default=None, help="TFDS data_dir")
  p.add_argument("--encoding", default="png", choices=records.ENCODINGS,
                 help="png (lossless, smaller) or raw (uint8 bytes: no decoding when read)")
  p.add_argument("--shard-size", type=int, default=10000, help="examples per shard")
  p.add_argument("--workers", type=int, default=2, help="decoding processes (0: this one)")
  p.add_argument("--on-error", default="raise", choices=("raise", "skip"),
                 help="an undecodable image stops the conversion, or is left out and counted")
  p.add_argument("--quiet", action="store_true", help="no progress bar")
  return p


def main(argv: list[str]) -> int:
  """``jaxgan prepare SRC DST ...``: 0 on success, 2 on bad input (named on stderr)."""
  args = _parser().parse_args(argv)
  try:
    meta = prepare(args.src, args.dst, args.resolution, args.filter, args.crop, args.channels,
                   args.split, args.data_dir, args.shard_size, args.workers, args.on_error,
                   args.encoding, progress=not args.quiet)
  except DataError as e:
    print(f"error: {e}", file=sys.stderr)
    return INPUT_ERROR
  skipped = f", {meta['num_skipped']} skipped" if meta["num_skipped"] else ""
  print(f"{args.dst}: {meta['num_examples']} examples of {tuple(meta['shape'])} in "
        f"{len(meta['shards'])} shards ({meta['resize_filter']} filter{skipped})")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
