"""Image datasets held in memory: local ``.npz`` archives, image folders, TensorFlow Datasets.

Every loader returns an ``ImageDataset``: uint8 images (N, H, W, C) and, when known,
int32 labels (N,). Scaling to [-1, 1] happens per batch (``jaxgan.data.pipeline``), so
the dataset stays compact.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
TFDS_NAMES = ("mnist", "fashion_mnist", "cifar10", "celeb_a")


class DataError(ValueError):
  """A dataset is missing or malformed."""


def to_model_range(images):
  """uint8 images -> float32 in [-1, 1] (numpy or JAX arrays, also under jit)."""
  return images.astype(np.float32) / 127.5 - 1.0


def to_uint8(images) -> np.ndarray:
  """Images in [-1, 1] -> uint8 (numpy), rounded to the nearest level."""
  return np.clip(np.round((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class ImageDataset:
  images: np.ndarray              # uint8, (N, H, W, C)
  labels: np.ndarray | None       # int32, (N,), values in [0, num_classes)
  num_classes: int                # 0 when unlabelled
  source: str = ""

  @property
  def shape(self) -> tuple[int, int, int]:
    return tuple(self.images.shape[1:])


def _check(images, labels, source: str, num_classes: int | None = None) -> ImageDataset:
  images = np.asarray(images)
  if images.ndim == 3:
    images = images[..., None]  # Grayscale (N, H, W) -> (N, H, W, 1).
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise DataError(f"{source}: images must have shape (N, H, W) or (N, H, W, 1|3), got "
                    f"{images.shape}")
  if images.dtype != np.uint8:
    raise DataError(f"{source}: images must be uint8 in [0, 255], got dtype {images.dtype}")
  if len(images) == 0:
    raise DataError(f"{source}: no images")
  if labels is None:
    return ImageDataset(images, None, 0, source)
  labels = np.asarray(labels)
  if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
    raise DataError(f"{source}: labels must be integers of shape ({len(images)},), got "
                    f"{labels.dtype} {labels.shape}")
  if labels.min() < 0 or (num_classes is not None and labels.max() >= num_classes):
    raise DataError(f"{source}: labels out of range [0, {num_classes}): min {labels.min()}, "
                    f"max {labels.max()}")
  n_classes = num_classes if num_classes is not None else int(labels.max()) + 1
  return ImageDataset(images, labels.astype(np.int32), n_classes, source)


def load_npz(path: str | os.PathLike, split: str = "train",
             num_classes: int | None = None) -> ImageDataset:
  """Reads ``x_<split>`` (and ``y_<split>`` if present) from a .npz archive.

  The layout of the archives in ``shared/data``: x_train (N, H, W[, C]) uint8, y_train (N,).
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise DataError(f"{path}: no such file")
  with np.load(path) as archive:
    key = f"x_{split}"
    if key not in archive:
      raise DataError(f"{path}: no array {key!r}; it has {sorted(archive.keys())}")
    labels = archive[f"y_{split}"] if f"y_{split}" in archive else None
    return _check(archive[key], labels, str(path), num_classes)


def read_image(path: pathlib.Path) -> np.ndarray:
  """One image as uint8 (H, W, C), C = 1 or 3 (alpha dropped), read with matplotlib."""
  import matplotlib.image  # Reads PNG natively, other formats through Pillow.
  img = matplotlib.image.imread(path)
  if img.dtype != np.uint8:  # PNGs come back as float in [0, 1].
    img = np.round(np.asarray(img) * 255).astype(np.uint8)
  if img.ndim == 2:
    img = img[..., None]
  return img[..., :3] if img.shape[-1] == 4 else img


def load_folder(path: str | os.PathLike) -> ImageDataset:
  """Images in a folder; one level of subfolders gives class labels (sorted names)."""
  root = pathlib.Path(path)
  if not root.is_dir():
    raise DataError(f"{root}: no such folder")
  classes = sorted(p.name for p in root.iterdir() if p.is_dir())
  files = ([(f, i) for i, c in enumerate(classes) for f in sorted((root / c).iterdir())]
           if classes else [(f, None) for f in sorted(root.iterdir())])
  files = [(f, y) for f, y in files if f.suffix.lower() in IMAGE_SUFFIXES]
  if not files:
    raise DataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)})")
  images = [read_image(f) for f, _ in files]
  shapes = {im.shape for im in images}
  if len(shapes) > 1:
    raise DataError(f"{root}: images differ in shape {sorted(shapes)[:4]}; resize them first")
  labels = np.asarray([y for _, y in files]) if classes else None
  return _check(np.stack(images), labels, str(root), len(classes) or None)


def load_tfds(name: str, split: str = "train", data_dir: str | None = None,
              image_size: int | None = None, max_examples: int | None = None) -> ImageDataset:
  """Loads a TensorFlow Datasets image set into memory (tensorflow_datasets imported here).

  'celeb_a' is centre-cropped to 178x178 and resized to ``image_size`` (default 64), as in
  the DCGAN CelebA setups; it has no class labels here.
  """
  if name not in TFDS_NAMES:
    raise DataError(f"config.data.name={name!r}: TensorFlow Datasets names supported: "
                    f"{', '.join(TFDS_NAMES)}")
  try:
    import tensorflow_datasets as tfds
  except ImportError as e:
    raise DataError(f"dataset {name!r} needs TensorFlow Datasets: pip install "
                    "'jaxgan[tfds]' (or use a local .npz / image folder)") from e
  ds = tfds.load(name, split=split, data_dir=data_dir, shuffle_files=False)
  if max_examples:
    ds = ds.take(max_examples)
  if name == "celeb_a":
    import tensorflow as tf
    size = image_size or 64

    def crop(ex):
      img = tf.image.crop_to_bounding_box(ex["image"], 20, 0, 178, 178)
      img = tf.image.resize(img, (size, size), method="area", antialias=True)
      return {"image": tf.cast(tf.clip_by_value(tf.round(img), 0, 255), tf.uint8)}

    ds = ds.map(crop)
  images, labels = [], []
  for ex in tfds.as_numpy(ds):
    images.append(ex["image"])
    if "label" in ex:
      labels.append(ex["label"])
  info_classes = 10 if name in ("mnist", "fashion_mnist", "cifar10") else None
  return _check(np.stack(images), np.asarray(labels) if labels else None, f"tfds:{name}",
                info_classes)


def load(name: str, path: str = "", split: str = "train", data_dir: str | None = None,
         image_size: int | None = None) -> ImageDataset:
  """Dispatch: ``name`` 'npz' or 'folder' reads ``path``; otherwise a TFDS name."""
  if name == "npz":
    return load_npz(path, split)
  if name == "folder":
    return load_folder(path)
  return load_tfds(name, split, data_dir, image_size)
