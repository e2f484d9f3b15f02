"""The on-disk form of a prepared image set: ArrayRecord shards beside a ``dataset.json``.

A folder written by ``jaxgan prepare`` holds::

  dataset.json                          what the shards hold (below)
  data-00000.array_record ...           one record per example, in order

Each record is a msgpack map ``{"image": <bytes>, "encoding": "png" | "raw", "shape":
[H, W, C], "label": <int, -1 if unlabelled>}``. Both encodings are lossless, so a
prepared set decodes to exactly the pixels that ``prepare`` wrote: "png" (smaller; decoded
by the same Pillow decoder as image files, ``jaxgan.data.images.decode_image``) or "raw"
(the uint8 array's bytes: larger, but reading it costs no decoding, for small images or
hosts short of cores). The shards are written with ``group_size:1`` (each record is its
own chunk, so a random read decodes one record) and uncompressed (PNG already is).

``dataset.json`` records how the pixels were made, because the resize filter alone moves
FID by whole points: ``resolution``, ``resize_filter``, ``crop``, the ``source`` and the
Pillow version, beside what a reader needs (``num_examples``, ``shape``, ``num_classes``,
``class_names``, ``shards`` and ``shard_sizes``).
"""

from __future__ import annotations

import io
import json
import pathlib
from typing import Any

import msgpack
import numpy as np

from jaxgan.data.images import DataError, decode_image

FORMAT = "jaxgan.array_record.v1"
METADATA = "dataset.json"
WRITER_OPTIONS = "group_size:1,uncompressed"
PNG_COMPRESS_LEVEL = 3  # Pillow's 0..9; decoding speed hardly depends on it.
ENCODINGS = ("png", "raw")


def shard_name(index: int) -> str:
  return f"data-{index:05d}.array_record"


def encode_example(image: np.ndarray, label: int | None, encoding: str = "png") -> bytes:
  """uint8 (H, W, 1|3) and a label (None: unlabelled) -> one record's bytes."""
  if encoding == "raw":
    data = np.ascontiguousarray(image, np.uint8).tobytes()
  elif encoding == "png":
    from PIL import Image
    pixels = image[..., 0] if image.shape[-1] == 1 else image
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG",
                                                       compress_level=PNG_COMPRESS_LEVEL)
    data = buffer.getvalue()
  else:
    raise DataError(f"encoding {encoding!r}: one of {', '.join(ENCODINGS)}")
  return msgpack.packb({"image": data, "encoding": encoding, "shape": list(image.shape),
                        "label": -1 if label is None else int(label)})


def decode_example(record: bytes, what) -> tuple[np.ndarray, int]:
  """One record -> (uint8 (H, W, C) image, label or -1); ``DataError`` naming ``what``
  (anything that formats as the record's name; formatted only on an error)."""
  try:
    fields = msgpack.unpackb(record)
    data, encoding, label = fields["image"], fields["encoding"], int(fields["label"])
    shape = tuple(int(d) for d in fields["shape"])
  except Exception as e:  # msgpack raises ExtraData, FormatError, ValueError, KeyError...
    raise DataError(f"{what}: not a jaxgan record ({type(e).__name__}: {e})") from None
  if encoding == "png":
    image = decode_image(data, what)
  elif encoding == "raw" and len(data) == np.prod(shape) and len(shape) == 3:
    image = np.frombuffer(data, np.uint8).reshape(shape)
  else:
    raise DataError(f"{what}: a {encoding!r} record of {len(data)} bytes for shape {shape}")
  if image.shape != shape:
    raise DataError(f"{what}: decodes to {image.shape}, but the record says {shape}")
  return image, label


def write_metadata(root: pathlib.Path, metadata: dict[str, Any]) -> dict[str, Any]:
  """Writes ``dataset.json`` (with the format's name) and returns what it holds."""
  metadata = {"format": FORMAT, **metadata}
  (root / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
  return metadata


def read_metadata(root: str | pathlib.Path) -> dict[str, Any]:
  """``dataset.json`` of a prepared folder, checked against the shards beside it."""
  root = pathlib.Path(root)
  path = root / METADATA
  if not path.is_file():
    raise DataError(f"{root}: no {METADATA}; is this a folder written by `jaxgan prepare`?")
  try:
    meta = json.loads(path.read_text())
  except (ValueError, UnicodeDecodeError) as e:
    raise DataError(f"{path}: not valid JSON ({e})") from None
  if not isinstance(meta, dict) or meta.get("format") != FORMAT:
    raise DataError(f"{path}: format {meta.get('format') if isinstance(meta, dict) else None!r}, "
                    f"expected {FORMAT!r}")
  missing = [k for k in ("num_examples", "shape", "num_classes", "shards", "shard_sizes")
             if k not in meta]
  if missing:
    raise DataError(f"{path}: missing {', '.join(missing)}")
  absent = [s for s in meta["shards"] if not (root / s).is_file()]
  if absent:
    raise DataError(f"{root}: shard {absent[0]} is missing ({len(absent)} of "
                    f"{len(meta['shards'])} missing)")
  if sum(meta["shard_sizes"]) != meta["num_examples"]:
    raise DataError(f"{path}: shard_sizes add up to {sum(meta['shard_sizes'])}, not "
                    f"num_examples={meta['num_examples']}")
  return meta
