"""Image batches streamed from storage with grain: data larger than memory, many hosts.

The plan is the in-memory source's (``jaxgan.data.pipeline.BatchPlan``): epochs are
permutations drawn from (seed, epoch), the batch of step s holds positions
[s K, (s+1) K) of the endless sequence, and each host reads only its columns of the
global batch. So the batch of step s is a pure function of (seed, s) (resuming at step s
needs s alone), the hosts together read each example of an epoch once, and for the same
data and seed this source gives exactly the batches of the in-memory one.

What grain adds is the reading: a ``grain.MapDataset`` over step numbers, mapped to
``StepBatch`` (the step's examples read by random access from a ``Reader`` and decoded),
run in ``workers`` processes (``mp_prefetch``), then sent to the devices in a background
thread (``prefetch`` steps ahead). Images cross to the device as uint8 and become
[-1, 1] there (``jaxgan.data.source.DevicePut``): a quarter of float32's traffic.

Readers (random access, ``read(i) -> (uint8 (H, W, C), label or -1)``):
  * ``RecordReader``: a folder written by ``jaxgan prepare`` (ArrayRecord shards).
  * ``FolderReader``: a folder of image files of one size (class subfolders give labels).
  * ``TfdsReader``: a TensorFlow Datasets set through ``tfds.data_source`` (prepared in
    the array_record file format).
  * ``ArrayReader``: an in-memory ``ImageDataset`` (small sets, tests).

A record or file that cannot be read raises ``DataError`` naming it (``on_error='raise'``)
or, with ``on_error='skip'``, is replaced by the next readable example of the dataset
(index i+1, i+2, ...; still a function of the data and the step) and counted in
``GrainSource.skipped``.
"""

from __future__ import annotations

import pathlib
import warnings

import grain
import jax
from absl import flags
import numpy as np

from jaxgan.data import records
from jaxgan.data.images import DataError, ImageDataset, list_folder, read_image, to_model_range
from jaxgan.data.pipeline import BatchPlan
from jaxgan.data.source import DevicePut

ON_ERROR = ("raise", "skip")
MAX_CONSECUTIVE_SKIPS = 64  # More unreadable examples in a row is a broken dataset.
_ENDLESS = 2**62            # The step range of an iterator: never reached.


class Reader:
  """Random access to the examples of a dataset; picklable (sent to worker processes)."""
  shape: tuple[int, int, int]
  num_classes: int
  source: str

  def __len__(self) -> int:
    raise NotImplementedError

  def read(self, index: int) -> tuple[np.ndarray, int]:
    raise NotImplementedError

  def _checked(self, image: np.ndarray, what: str) -> np.ndarray:
    if image.shape != self.shape:
      raise DataError(f"{what}: shape {image.shape}, but the dataset's examples are "
                      f"{self.shape}; resize the set first (jaxgan prepare)")
    return image


class ArrayReader(Reader):
  def __init__(self, dataset: ImageDataset):
    self._dataset = dataset
    self.shape, self.num_classes, self.source = dataset.shape, dataset.num_classes, dataset.source

  def __len__(self) -> int:
    return len(self._dataset.images)

  def read(self, index: int) -> tuple[np.ndarray, int]:
    labels = self._dataset.labels
    return self._dataset.images[index], -1 if labels is None else int(labels[index])


class RecordReader(Reader):
  """A folder written by ``jaxgan prepare``: ArrayRecord shards and ``dataset.json``."""

  def __init__(self, path: str | pathlib.Path):
    root = pathlib.Path(path)
    self.metadata = records.read_metadata(root)
    self.shape = tuple(self.metadata["shape"])
    self.num_classes, self.source = int(self.metadata["num_classes"]), str(root)
    self._paths = [str(root / s) for s in self.metadata["shards"]]
    self._ends = np.cumsum(self.metadata["shard_sizes"])
    self._data = None
    held = len(self._open())
    if held != self.metadata["num_examples"]:
      raise DataError(f"{root}: the shards hold {held} records, {records.METADATA} says "
                      f"{self.metadata['num_examples']}; the folder is incomplete")

  def _open(self):
    if self._data is None:
      try:
        self._data = grain.sources.ArrayRecordDataSource(self._paths)
      except (RuntimeError, ValueError, OSError) as e:
        raise DataError(f"{self.source}: cannot open the ArrayRecord shards "
                        f"({type(e).__name__}: {e})") from None
    return self._data

  def __getstate__(self):  # Each worker process opens its own readers.
    return {**self.__dict__, "_data": None}

  def __len__(self) -> int:
    return int(self._ends[-1]) if len(self._ends) else 0

  def _where(self, index: int) -> str:
    shard = int(np.searchsorted(self._ends, index, side="right"))
    first = int(self._ends[shard - 1]) if shard else 0
    return f"{self._paths[shard]}: record {index - first} (example {index})"

  def read(self, index: int) -> tuple[np.ndarray, int]:
    try:
      record = self._open()[index]
    except RuntimeError as e:  # Riegeli: "Corrupted ... chunk data hash mismatch".
      raise DataError(f"{self._where(index)}: corrupt record ({e})") from None
    image, label = records.decode_example(record, _Name(self._where, index))
    return self._checked(image, _Name(self._where, index)), label


class _Name:
  """A record's name, formatted only when an error message needs it."""

  def __init__(self, where, index: int):
    self.where, self.index = where, index

  def __str__(self) -> str:
    return self.where(self.index)

  __format__ = lambda self, spec: str(self)


class FolderReader(Reader):
  """A folder of image files of one size; one level of subfolders gives class labels."""

  def __init__(self, path: str | pathlib.Path):
    files, labels, classes = list_folder(path)
    self._root = pathlib.Path(path)
    self._names = [str(f.relative_to(self._root)) for f in files]
    self._labels = None if labels is None else np.asarray(labels, np.int32)
    self.num_classes, self.source = len(classes), str(self._root)
    self.shape = read_image(files[0]).shape

  def __len__(self) -> int:
    return len(self._names)

  def read(self, index: int) -> tuple[np.ndarray, int]:
    path = self._root / self._names[index]
    image = self._checked(read_image(path), str(path))
    return image, -1 if self._labels is None else int(self._labels[index])


class TfdsReader(Reader):
  """A TFDS set by random access (``tfds.data_source``: the array_record file format)."""

  def __init__(self, name: str, split: str = "train", data_dir: str | None = None):
    try:
      import tensorflow_datasets as tfds
    except ImportError as e:
      raise DataError(f"dataset {name!r} needs TensorFlow Datasets: pip install "
                      "'jaxgan[tfds]'") from e
    try:
      self._data = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    except Exception as e:  # Not prepared, not array_record, unknown name...
      raise DataError(f"tfds:{name}: no random-access copy of split {split!r} "
                      f"({type(e).__name__}: {' '.join(str(e).split())[:200]}); prepare it "
                      "with file_format='array_record', or convert it with `jaxgan prepare "
                      f"tfds:{name} DST`") from None
    features = self._data.dataset_info.features
    if "image" not in features:
      raise DataError(f"tfds:{name}: has no 'image' feature ({', '.join(features.keys())})")
    self.shape = tuple(features["image"].shape)
    if None in self.shape:
      raise DataError(f"tfds:{name}: images of varying shape {self.shape}; convert them to "
                      f"one resolution with `jaxgan prepare tfds:{name} DST`")
    label = features["label"] if "label" in features else None
    self.num_classes = int(label.num_classes) if label is not None else 0
    self.source = f"tfds:{name}[{split}]"

  def __len__(self) -> int:
    return len(self._data)

  def read(self, index: int) -> tuple[np.ndarray, int]:
    what = f"{self.source}: example {index}"
    try:
      example = self._data[index]
    except Exception as e:
      raise DataError(f"{what}: unreadable ({type(e).__name__}: {e})") from None
    image = np.asarray(example["image"], np.uint8)
    return self._checked(image, what), int(example.get("label", -1)) if self.num_classes else -1


def open_reader(name: str, path: str = "", split: str = "train",
                data_dir: str | None = None) -> Reader:
  """'array_record' and 'folder' read ``path``; 'npz' is loaded into memory; else TFDS."""
  if name == "array_record":
    return RecordReader(path)
  if name == "folder":
    return FolderReader(path)
  if name == "npz":
    from jaxgan.data.images import load_npz
    return ArrayReader(load_npz(path, split))
  return TfdsReader(name, split, data_dir)


class StepBatch:
  """``step -> this host's uint8 batch of that step``: the map of the grain dataset."""

  def __init__(self, reader: Reader, plan: BatchPlan, on_error: str = "raise"):
    self.reader, self.plan, self.on_error = reader, plan, on_error

  def read(self, index: int) -> tuple[np.ndarray, int, list[str]]:
    """Example ``index`` (or, skipping, the next readable one), its label, the errors."""
    errors = []
    for k in range(MAX_CONSECUTIVE_SKIPS):
      try:
        return (*self.reader.read((index + k) % len(self.reader)), errors)
      except DataError as e:
        if self.on_error == "raise":
          raise
        errors.append(str(e))
    raise DataError(f"{self.reader.source}: examples {index} .. {index + len(errors) - 1} are "
                    f"all unreadable (first: {errors[0]})")

  def __call__(self, step: int) -> dict:
    idx = self.plan.local_indices(int(step))
    images = np.empty((*idx.shape, *self.reader.shape), np.uint8)
    labels = np.empty(idx.shape, np.int32)
    errors = []
    for pos, index in np.ndenumerate(idx):
      images[pos], labels[pos], bad = self.read(int(index))
      errors += bad
    out = {"step": int(step), "image": images, "skipped": len(errors),
           "first_error": errors[0] if errors else ""}
    if self.reader.num_classes:
      out["label"] = labels
    return out


def _check_option(field: str, value, low: int, high: int) -> int:
  if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
    raise DataError(f"config.data.{field}={value!r}: an integer in [{low}, {high}]")
  return value


class GrainSource:
  """The training loop's image source (as ``jaxgan.data.source.ImageSource``), streamed."""

  def __init__(self, reader: Reader, batch_size: int, n_critic: int, seed: int, sharding, *,
               workers: int = 2, prefetch: int = 2, on_error: str = "raise",
               process_index: int | None = None, process_count: int | None = None):
    if on_error not in ON_ERROR:
      raise DataError(f"config.data.on_error={on_error!r}: one of {', '.join(ON_ERROR)}")
    self.workers = _check_option("workers", workers, 0, 256)
    self.prefetch = _check_option("prefetch", prefetch, 1, 64)
    self.reader, self.shape, self.num_classes = reader, reader.shape, reader.num_classes
    self.plan = BatchPlan(
        len(reader), batch_size, n_critic, seed,
        jax.process_index() if process_index is None else process_index,
        jax.process_count() if process_count is None else process_count, reader.source)
    self._step_batch = StepBatch(reader, self.plan, on_error)
    self._device = DevicePut(sharding, (n_critic, batch_size, *self.shape))
    self._iterator, self._next_step = None, None
    self.skipped = 0

  def host_batches(self, start: int) -> grain.IterDataset:
    """This host's uint8 batches of steps start, start + 1, ..., read by the workers."""
    if self.workers and not flags.FLAGS.is_parsed():
      # grain's worker processes read an absl flag of their own; outside absl.app (the
      # jaxgan CLI, pytest) nothing parsed them, so their defaults are taken as parsed.
      flags.FLAGS.mark_as_parsed()
    ds = grain.MapDataset.range(start, _ENDLESS).map(self._step_batch)
    ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=self.prefetch))
    if self.workers:
      ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=self.workers,
                                                       per_worker_buffer_size=self.prefetch))
    return ds

  def _to_device(self, host: dict) -> dict:
    local = {k: host[k] for k in ("image", "label") if k in host}
    return {**host, **self._device.put(local)}

  def _start(self, step: int) -> None:
    self.close()
    ds = self.host_batches(step).map(self._to_device)  # In the main process, after the workers.
    ds = grain.experimental.ThreadPrefetchIterDataset(ds, prefetch_buffer_size=self.prefetch)
    self._iterator, self._next_step = iter(ds), step

  def _take(self, start: int, count: int) -> list[dict]:
    """The device batches of steps start .. start + count - 1 (uint8 images)."""
    if self._iterator is None or self._next_step != start:  # First call, resume or a jump.
      self._start(start)
    try:
      out = [next(self._iterator) for _ in range(count)]
    except BaseException:  # A DataError (or an interrupt): the next call starts afresh.
      self.close()
      raise
    self._next_step = start + count
    for step, b in enumerate(out, start):
      if b["step"] != step:
        raise RuntimeError(f"the input pipeline gave step {b['step']} for step {step}")
      if b["skipped"]:
        self.skipped += b["skipped"]
        warnings.warn(f"skipped {b['skipped']} unreadable example(s) in the batch of step "
                      f"{step} ({self.skipped} so far; first: {b['first_error']})",
                      stacklevel=3)
    return [{k: b[k] for k in ("image", "label") if k in b} for b in out]

  def batch(self, step: int):
    return self._device.convert(self._take(step, 1)[0])

  def batches(self, start: int, count: int):
    """The batches of steps start .. start + count - 1, stacked on the devices."""
    return self._device.stack(self._take(start, count))

  def real_images(self, n: int) -> np.ndarray:
    """The first ``n`` examples of the set (uint8 (n, H, W, C)), read here: e.g. for a
    metric's reference statistics, without holding the whole set."""
    return np.stack([self._step_batch.read(i)[0] for i in range(min(n, len(self.reader)))])

  def real_sample(self, n: int) -> np.ndarray:
    return to_model_range(self.real_images(n))

  def close(self) -> None:
    """Stops the worker processes and threads of the current iterator."""
    if self._iterator is not None and hasattr(self._iterator, "close"):
      self._iterator.close()
    self._iterator = None
