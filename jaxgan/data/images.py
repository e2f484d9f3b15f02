"""Image datasets held in memory: local ``.npz`` archives, image folders, TensorFlow Datasets.
(Sets larger than memory are streamed instead: ``jaxgan.data.grain_source``.)

Every loader returns an ``ImageDataset``: uint8 images (N, H, W, C) and, when known,
int32 labels (N,). Scaling to [-1, 1] happens per batch, on the devices for training
(``jaxgan.data.source.DevicePut``), so the dataset stays compact.

This module also holds what training and the metrics share: the one image decoder
(``read_image`` for files, ``decode_image`` for encoded bytes such as the records of
``jaxgan prepare``; Pillow), the one folder listing (``list_folder``), the one list of
image suffixes, the one error class
(``DataError``; ``jaxgan.metrics.evaluate.SourceError`` is the same class) and the one
pair of scalings between uint8 and [-1, 1] (``to_model_range``, ``to_uint8``).

Suffixes: the union of pytorch-fid's (``fid_score.IMAGE_EXTENSIONS``: bmp, jpg, jpeg,
pgm, png, ppm, tif, tiff, webp) and the training loader's former list (which added
gif). pytorch-fid itself never reads .gif files, nor suffixes in upper case (it globs
``*.png`` ...); the metrics warn when a folder holds such files
(``jaxgan.metrics.evaluate.folder_source``).
"""

from __future__ import annotations

import dataclasses
import io
import os
import pathlib
import zipfile
import zlib

import jax
import jax.numpy as jnp
import numpy as np

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff",
                  ".webp")
TFDS_NAMES = ("mnist", "fashion_mnist", "cifar10", "celeb_a")


class DataError(ValueError):
  """A dataset or image source is missing or malformed (the message names the file)."""


def _xp(images):
  """jax.numpy for JAX arrays (also tracers under jit), numpy otherwise."""
  return jnp if isinstance(images, jax.Array) else np


def _float_dtype(images):
  """float64 stays float64; anything else (uint8, float16, bfloat16, float32) -> float32."""
  return np.float64 if images.dtype == np.float64 else np.float32


def to_model_range(images):
  """uint8 [0, 255] -> float32 [-1, 1]: x / 127.5 - 1 (numpy in, numpy out; JAX in, JAX out).

  The inverse of ``to_uint8`` on the 256 levels (to_uint8(to_model_range(u)) == u).
  """
  xp = _xp(images)
  return xp.asarray(images).astype(xp.float32) / 127.5 - 1.0


def to_uint8(images):
  """Images in [-1, 1] -> uint8: clip(round((x + 1) * 127.5), 0, 255), half to even.

  numpy in, numpy out; a JAX array (or a tracer) stays on its device (jax.numpy). The
  arithmetic is float32 (float64 for float64 input): (x + 1) * 127.5 rounds once to the
  same float as ((x + 1) / 2) * 255, so this equals the "as if saved to PNG" rounding
  that the metrics used before (``jaxgan.metrics.evaluate``) bit for bit.
  """
  xp = _xp(images)
  x = xp.asarray(images)
  x = x.astype(_float_dtype(x))
  return xp.clip(xp.round((x + 1.0) * 127.5), 0, 255).astype(xp.uint8)


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
  present = len(np.unique(labels))
  if num_classes is None and present * 2 < n_classes:  # E.g. one stray label 999.
    raise DataError(f"{source}: labels run up to {n_classes - 1}, so there would be {n_classes} "
                    f"classes, but only {present} of them occur; relabel them 0..{present - 1}")
  return ImageDataset(images, labels.astype(np.int32), n_classes, source)


def load_npz(path: str | os.PathLike, split: str = "train",
             num_classes: int | None = None) -> ImageDataset:
  """Reads ``x_<split>`` (N, H, W[, C]) uint8 and, if present, ``y_<split>`` (N,) integer
  labels from a .npz archive; anything that is not such an archive is a ``DataError``."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise DataError(f"{path}: no such file")
  try:  # Not a zip, truncated, a pickle, object arrays: all refused without unpickling.
    with np.load(path, allow_pickle=False) as archive:
      if not hasattr(archive, "keys"):
        raise DataError(f"{path}: holds one array, not an .npz archive of x_{split}, y_{split}")
      key = f"x_{split}"
      if key not in archive:
        raise DataError(f"{path}: no array {key!r}; it has {sorted(archive.keys())}")
      images = archive[key]
      labels = archive[f"y_{split}"] if f"y_{split}" in archive else None
  except DataError:
    raise
  except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
    raise DataError(f"{path}: not a readable .npz archive ({type(e).__name__}: "
                    f"{' '.join(str(e).split())[:160]})") from None
  return _check(images, labels, str(path), num_classes)


_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N")


def _decode(im, rgb: bool) -> np.ndarray:
  if rgb:  # pytorch-fid: Image.open(path).convert('RGB'), whatever the mode.
    return np.asarray(im.convert("RGB"))
  if im.mode not in _GRAY_MODES:  # Alpha dropped; palettes and CMYK looked up.
    return np.asarray(im.convert("RGB"))
  if im.mode.startswith("I"):  # 16/32-bit grayscale: v / 257 (65535 -> 255), rounded.
    wide = np.asarray(im, np.float64)
    return np.clip(np.round(wide / 257.0), 0, 255).astype(np.uint8)[..., None]
  return np.asarray(im.convert("L"))[..., None]


def _open_and_decode(what, opener, rgb: bool) -> np.ndarray:
  from PIL import Image  # A dependency of jaxgan (and of matplotlib).
  try:
    with Image.open(opener) as im:
      return _decode(im, rgb)
  except FileNotFoundError as e:
    raise DataError(f"{what}: no such file") from e
  except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, zlib.error...
    raise DataError(f"{what}: cannot decode this image ({type(e).__name__}: {e})") from e


def read_image(path: str | os.PathLike, rgb: bool = False) -> np.ndarray:
  """One image file -> uint8 (H, W, C), decoded with Pillow; ``DataError`` names the file.

  ``rgb=True`` (the metrics): exactly pytorch-fid's ``convert('RGB')``, so C = 3
  (grayscale replicated, alpha dropped without compositing). ``rgb=False`` (training):
  grayscale stays one channel (C = 1; 16-bit grayscale scaled by 1/257), everything
  else becomes RGB (C = 3). A missing, fake or truncated file raises ``DataError``.
  """
  path = pathlib.Path(path)
  return _open_and_decode(path, path, rgb)


def decode_image(data: bytes, what: str, rgb: bool = False) -> np.ndarray:
  """``read_image`` for an encoded image held in memory (a record of an ArrayRecord
  shard): the same decoder; ``what`` names the record in a ``DataError``."""
  return _open_and_decode(what, io.BytesIO(data), rgb)


def list_folder(path: str | os.PathLike) -> tuple[list[pathlib.Path], list[int] | None,
                                                  list[str]]:
  """The image files of a folder, sorted, and their labels: one level of subfolders gives
  class labels (sorted names; ``labels`` is None without subfolders), and the class names."""
  root = pathlib.Path(path)
  if not root.is_dir():
    raise DataError(f"{root}: no such folder")
  is_image = lambda f: f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
  classes = sorted(p.name for p in root.iterdir() if p.is_dir())
  stray = sorted(f.name for f in root.iterdir() if is_image(f)) if classes else []
  if stray:
    raise DataError(f"{root}: images at the top level ({stray[0]}, ...) beside class folders "
                    f"({', '.join(classes[:4])}, ...): move them into a class folder")
  files = ([(f, i) for i, c in enumerate(classes) for f in sorted((root / c).iterdir())]
           if classes else [(f, None) for f in sorted(root.iterdir())])
  files = [(f, y) for f, y in files if is_image(f)]  # A folder named x.png is no image.
  empty = [c for i, c in enumerate(classes) if not any(y == i for _, y in files)]
  if empty:
    raise DataError(f"{root}: class folder {empty[0]!r} holds no images "
                    f"({', '.join(IMAGE_SUFFIXES)}); remove it or add images")
  if not files:
    raise DataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)})")
  labels = [y for _, y in files] if classes else None
  return [f for f, _ in files], labels, classes


def load_folder(path: str | os.PathLike) -> ImageDataset:
  """Images in a folder; one level of subfolders gives class labels (sorted names)."""
  root = pathlib.Path(path)
  files, labels, classes = list_folder(root)
  images = [read_image(f) for f in files]
  shapes = {im.shape for im in images}
  if len(shapes) > 1:
    raise DataError(f"{root}: images differ in shape {sorted(shapes)[:4]}; resize them first "
                    "(jaxgan prepare)")
  labels = np.asarray(labels) if classes else None
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
