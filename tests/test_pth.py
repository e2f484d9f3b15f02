"""Tests for jaxgan.pth: reading hand-built and (when PyTorch is installed) torch.save files."""

from __future__ import annotations

import collections
import pickle
import subprocess
import sys
import threading
import time
import zipfile

import ml_dtypes
import numpy as np
import pytest

from jaxgan import pth
from pth_writers import (Global, Storage, Tensor, dict_pickle, dumps, op_get, op_put, op_str,
                         storages_of, write_legacy, write_zip, write_zip_pickle)

def _example():
  """A state dict exercising strides, offsets, scalars and dtypes; and its numpy value."""
  base = np.arange(24, dtype=np.float32)
  s0 = Storage("0", "FloatStorage", base)
  s1 = Storage("1", "LongStorage", np.array([7], np.int64))
  s2 = Storage("2", "DoubleStorage", np.linspace(0, 1, 5))
  s3 = Storage("3", "BFloat16Storage", np.array([1.5, -2.0, 3.25], ml_dtypes.bfloat16))
  obj = collections.OrderedDict([
      ("w", Tensor(s0, 0, (2, 3, 4), (12, 4, 1))),
      ("w_t", Tensor(s0, 0, (4, 3), (1, 4))),           # A transposed view, shared storage.
      ("tail", Tensor(s0, 20, (2, 2), (2, 1))),         # An offset into the storage.
      ("n", Tensor(s1, 0, (), ())),                     # num_batches_tracked-like scalar.
      ("d", Tensor(s2, 1, (2,), (2,))),                 # Strided float64.
      ("h", Tensor(s3, 0, (3,), (1,))),
  ])
  expected = {
      "w": base.reshape(2, 3, 4), "w_t": base[:12].reshape(3, 4).T,
      "tail": base[20:24].reshape(2, 2), "n": np.array(7, np.int64),
      "d": np.linspace(0, 1, 5)[1::2], "h": np.array([1.5, -2.0, 3.25], ml_dtypes.bfloat16),
  }
  return obj, expected


def _assert_same(got, expected):
  assert list(got) == list(expected)
  for k in expected:
    assert got[k].dtype == expected[k].dtype, k
    assert got[k].shape == expected[k].shape, k
    np.testing.assert_array_equal(got[k], expected[k], err_msg=k)


# ----------------------------------------------------------------------------- reader


@pytest.mark.parametrize("prefix", ["archive", "my_weights"])
def test_read_hand_built_zip(tmp_path, prefix):
  obj, expected = _example()
  write_zip(tmp_path / "w.pth", obj, prefix=prefix)
  _assert_same(pth.read_pth(tmp_path / "w.pth"), expected)


def test_read_big_endian_zip(tmp_path):
  obj, expected = _example()
  write_zip(tmp_path / "w.pth", obj, byteorder="big")
  _assert_same(pth.read_pth(tmp_path / "w.pth"), expected)


def test_read_hand_built_legacy(tmp_path):
  obj, expected = _example()
  write_legacy(tmp_path / "w.pth", obj)
  _assert_same(pth.read_pth(tmp_path / "w.pth"), expected)


def test_read_state_dict_with_metadata(tmp_path):
  # module.state_dict() sets ``_metadata`` on its OrderedDict, which pickles as BUILD.
  obj, expected = _example()
  obj._metadata = collections.OrderedDict([("", {"version": 1})])
  assert pickle.BUILD in dumps(obj)
  write_zip(tmp_path / "w.pth", obj)
  _assert_same(pth.read_pth(tmp_path / "w.pth"), expected)


def test_refuses_other_globals(tmp_path):
  class Evil:
    def __reduce__(self):
      return Global("os", "system"), ("echo pwned",)

  with zipfile.ZipFile(tmp_path / "evil.pth", "w") as z:
    z.writestr("archive/data.pkl", dumps({"x": Evil()}))
  with pytest.raises(pth.PthError, match="os.system"):
    pth.read_pth(tmp_path / "evil.pth")


def test_truncated_storage_is_an_error(tmp_path):
  obj, _ = _example()
  with zipfile.ZipFile(tmp_path / "t.pth", "w") as z:
    z.writestr("archive/data.pkl", dumps(obj))
    for key, s in storages_of(obj).items():
      z.writestr(f"archive/data/{key}", s.data.tobytes()[:-2])
  with pytest.raises(pth.PthError, match="truncated"):
    pth.read_pth(tmp_path / "t.pth")


def test_not_a_torch_file(tmp_path):
  (tmp_path / "x.pth").write_bytes(b"hello world")
  with pytest.raises(pth.PthError):
    pth.read_pth(tmp_path / "x.pth")
  with pytest.raises(pth.PthError, match="no such file"):
    pth.read_pth(tmp_path / "missing.pth")


# ----------------------------------------------------------------------------- hostile files


def _raises(path, match):
  """read_pth(path) must raise PthError (not RecursionError, MemoryError, ...) saying ``match``."""
  with pytest.raises(pth.PthError, match=match) as e:
    pth.read_pth(path)
  assert "\n" not in str(e.value)
  return str(e.value)


def _read_promptly(path, seconds=1.0):
  """Runs read_pth(path) in a daemon thread (the unfixed reader never returned) and checks
  that it finished within ``seconds``; returns its result or the PthError it raised."""
  outcome = {}

  def read():
    start = time.perf_counter()
    try:
      outcome["value"] = pth.read_pth(path)
    except BaseException as e:  # noqa: BLE001 - reported below.
      outcome["error"] = e
    outcome["seconds"] = time.perf_counter() - start

  thread = threading.Thread(target=read, daemon=True)
  thread.start()
  thread.join(max(5.0, 5 * seconds))
  assert "seconds" in outcome, f"read_pth still running after {max(5.0, 5 * seconds)} s"
  assert outcome["seconds"] < seconds, f"read_pth took {outcome['seconds']:.2f} s"
  if "error" in outcome:
    assert isinstance(outcome["error"], pth.PthError), repr(outcome["error"])
  return outcome.get("value", outcome.get("error"))


def _laughs(levels=20, width=9):
  """A "billion laughs": each level is a list holding the previous level ``width`` times.

  Pickled with memo references it is about 460 bytes; walked naively it has 9**20 leaves.
  """
  x = []
  for _ in range(levels):
    x = [x] * width
  return x


def test_billion_laughs_value_is_refused_promptly(tmp_path):
  write_zip(tmp_path / "l.pth", {"w": _laughs()}, storages={})
  assert (tmp_path / "l.pth").stat().st_size < 2000
  error = _read_promptly(tmp_path / "l.pth")
  assert isinstance(error, pth.PthError) and "expected a state dict" in str(error)


def test_billion_laughs_beside_a_state_dict_returns_promptly(tmp_path):
  s = Storage("0", "FloatStorage", np.arange(6, dtype=np.float32))
  obj = {"state_dict": collections.OrderedDict(w=Tensor(s, 0, (2, 3), (3, 1))),
         "laughs": _laughs()}
  write_zip(tmp_path / "l.pth", obj, storages={"0": s})
  got = _read_promptly(tmp_path / "l.pth")
  assert list(got) == ["w"]
  np.testing.assert_array_equal(got["w"], np.arange(6, dtype=np.float32).reshape(2, 3))


def test_shared_tensor_is_converted_once(tmp_path):
  s = Storage("0", "FloatStorage", np.arange(4, dtype=np.float32))
  t = Tensor(s, 0, (4,), (1,))
  write_zip(tmp_path / "s.pth", {"state_dict": {"a": t, "b": t}, "all": [t] * 1000},
            storages={"0": s})
  got = pth.read_pth(tmp_path / "s.pth")
  assert got["a"] is got["b"]
  np.testing.assert_array_equal(got["a"], np.arange(4, dtype=np.float32))


def test_deep_nesting_is_an_error(tmp_path):
  n = 100_000  # Nested lists: the unfixed reader raised RecursionError converting them.
  write_zip_pickle(tmp_path / "d.pth", dict_pickle(pickle.EMPTY_LIST * n + pickle.APPEND * (n - 1)))
  _raises(tmp_path / "d.pth", "more than 100 levels deep")


_READ_IN_CHILD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("pth_under_test", sys.argv[1])
pth = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pth)
try:
  pth.read_pth(sys.argv[2])
except pth.PthError as e:
  print("PthError:", e)
"""


def test_deep_tuple_key_is_an_error(tmp_path):
  # A dict key of 10**6 nested tuples: CPython hashes it recursively in C, which overflowed
  # the C stack and killed the unfixed reader's process (segmentation fault), hence the
  # child process.
  n = 1_000_000
  data = (pickle.PROTO + b"\x02" + pickle.EMPTY_DICT + pickle.EMPTY_TUPLE + pickle.TUPLE1 * n
          + pickle.NONE + pickle.SETITEM + pickle.STOP)
  write_zip_pickle(tmp_path / "t.pth", data)
  child = subprocess.run([sys.executable, "-c", _READ_IN_CHILD, pth.__file__,
                          str(tmp_path / "t.pth")], capture_output=True, text=True, timeout=300)
  assert child.returncode == 0, f"exit status {child.returncode}: {child.stderr[-1000:]}"
  assert "PthError:" in child.stdout and "more than 100 levels deep" in child.stdout


def test_deep_nesting_through_the_memo_is_an_error(tmp_path):
  # Empty lists are memoised first and linked afterwards (list i gets list i + 1 appended),
  # so the pickle's stack never looks deep: the conversion itself must bound the depth.
  n = 10_000
  ops = b"".join(pickle.EMPTY_LIST + op_put(i) + pickle.POP for i in range(n))
  ops += b"".join(op_get(i) + op_get(i + 1) + pickle.APPEND + pickle.POP for i in range(n - 1))
  write_zip_pickle(tmp_path / "m.pth", dict_pickle(ops + op_get(0)))
  _raises(tmp_path / "m.pth", "nests containers more than 100 levels deep")


def test_cycle_is_an_error(tmp_path):
  ops = pickle.EMPTY_LIST + op_put(0) + op_get(0) + pickle.APPEND  # x = []; x.append(x)
  write_zip_pickle(tmp_path / "c.pth", dict_pickle(ops))
  _raises(tmp_path / "c.pth", "contains itself")


@pytest.mark.parametrize("ops, match", [
    (pickle.EMPTY_LIST + op_str("k") + op_str("v") + pickle.SETITEM, "malformed pickle"),
    (pickle.EMPTY_DICT + pickle.EMPTY_LIST + pickle.NONE + pickle.SETITEM, "unhashable"),
    (b"ccollections\nOrderedDict\n" + pickle.NONE + pickle.TUPLE1 + pickle.REDUCE,
     "malformed pickle"),
    (b"ctorch._utils\n_rebuild_tensor_v2\n" + pickle.EMPTY_DICT + pickle.BUILD,
     "refusing to set state"),
    (pickle.BINBYTES8 + (1 << 50).to_bytes(8, "little"), "bytes8"),
    (pickle.APPEND, "empty stack"),
    (op_get(7), "memo entry 7"),
], ids=["setitem-on-list", "list-key", "bad-reduce-args", "build-on-rebuild", "huge-bytes8",
        "stack-underflow", "missing-memo"])
def test_malformed_pickle_is_an_error(tmp_path, ops, match):
  write_zip_pickle(tmp_path / "p.pth", dict_pickle(ops))
  _raises(tmp_path / "p.pth", match)


def _one_tensor(tmp_path, offset, size, stride, numel=None):
  s = Storage("0", "FloatStorage", np.arange(24, dtype=np.float32), numel=numel)
  write_zip(tmp_path / "t.pth", {"w": Tensor(s, offset, size, stride)})
  return tmp_path / "t.pth"


@pytest.mark.parametrize("offset, size, stride, match", [
    (0, (2.5,), (1,), r"tensor size \(2.5,\): entry is 2.5, not an int"),
    (0, (4.0, 6), (6, 1), "entry is 4.0, not an int"),
    (0, 6, 1, "tensor size is 6, not a tuple of ints"),
    (0, (4, 6), (6.0, 1), "tensor stride .* not an int"),
    (1.0, (4,), (1,), "storage offset is 1.0, not an int"),
    (0, (-1,), (1,), "entry is negative"),
    (0, (4,), (-1,), "entry is negative"),
    (-1, (4,), (1,), "offset is negative"),
    (0, (2 ** 31, 2 ** 31), (0, 0), "has 4611686018427387904 elements, over the limit"),
    (0, (2 ** 20, 2 ** 20), (0, 0), "more than its storage's 24 .* for expanded tensors"),
    (100, (2,), (1,), "storage offset 100 lies beyond its storage of 24 elements"),
    (25, (0,), (1,), "storage offset 25 lies beyond"),
    (24, (1,), (1,), "storage offset 24 lies beyond"),
    (0, (2, 3), (1,), "size .* but stride"),
    (0, (1,) * 65, (1,) * 65, "65 dimensions"),
])
def test_bad_tensor_geometry_is_an_error(tmp_path, offset, size, stride, match):
  _raises(_one_tensor(tmp_path, offset, size, stride), match)


@pytest.mark.parametrize("numel, match", [
    (2 ** 62, "element count is 4611686018427387904, over the limit"),
    (-3, "element count is negative"),
    (2.0, "element count is 2.0, not an int"),
    (1000, "truncated"),
    (2 ** 39, "truncated"),
])
def test_bad_storage_numel_is_an_error(tmp_path, numel, match):
  _raises(_one_tensor(tmp_path, 0, (4,), (1,), numel=numel), match)


@pytest.mark.parametrize("numel, match", [
    (2 ** 62, "element count is 4611686018427387904, over the limit"),
    (-1, "element count is negative"),
    (2 ** 30, "truncated"),
])
def test_bad_legacy_storage_header_is_an_error(tmp_path, numel, match):
  obj, _ = _example()
  write_legacy(tmp_path / "w.pth", obj, numels={"0": numel})
  _raises(tmp_path / "w.pth", match)


def test_expanded_and_empty_tensors_still_load(tmp_path):
  s = Storage("0", "FloatStorage", np.arange(4, dtype=np.float32))
  obj = collections.OrderedDict(
      e=Tensor(s, 0, (3, 4), (0, 1)),  # torch.arange(4.).expand(3, 4)
      z=Tensor(s, 4, (0, 5), (5, 1)))  # Empty, offset at the storage's end.
  write_zip(tmp_path / "e.pth", obj)
  got = pth.read_pth(tmp_path / "e.pth")
  np.testing.assert_array_equal(got["e"], np.tile(np.arange(4, dtype=np.float32), (3, 1)))
  assert got["z"].shape == (0, 5) and got["z"].dtype == np.float32


def test_total_elements_are_bounded(tmp_path, monkeypatch):
  monkeypatch.setattr(pth, "_MAX_BROADCAST_NUMEL", 0)
  s = Storage("0", "FloatStorage", np.arange(4, dtype=np.float32))
  obj = collections.OrderedDict((f"v{i}", Tensor(s, 0, (4,), (1,))) for i in range(17))
  write_zip(tmp_path / "v.pth", obj)
  _raises(tmp_path / "v.pth", "more than 16 times the elements")
  del obj["v16"]
  write_zip(tmp_path / "v.pth", obj)
  assert len(pth.read_pth(tmp_path / "v.pth")) == 16


def test_pickle_size_and_opcodes_are_bounded(tmp_path, monkeypatch):
  ops = pickle.EMPTY_LIST + (pickle.NONE + pickle.APPEND) * 600
  write_zip_pickle(tmp_path / "o.pth", dict_pickle(ops))
  monkeypatch.setattr(pth, "_MAX_PICKLE_OPS", 1000)
  _raises(tmp_path / "o.pth", "more than 1000 opcodes")
  monkeypatch.setattr(pth, "_MAX_PICKLE_BYTES", 1000)
  _raises(tmp_path / "o.pth", "over the limit of 1000 for a state dict's pickle")


def test_bad_byteorder_and_legacy_headers_are_errors(tmp_path):
  obj, _ = _example()
  write_zip(tmp_path / "b.pth", obj, byteorder="middle")
  _raises(tmp_path / "b.pth", "byteorder is middle")
  (tmp_path / "e.pth").write_bytes(b"")
  _raises(tmp_path / "e.pth", "empty")
  (tmp_path / "n.pth").write_bytes(pickle.dumps([[[]]] * 3, protocol=2))
  _raises(tmp_path / "n.pth", "not a PyTorch file")


@pytest.mark.parametrize("legacy", [False, True])
def test_read_torch_save(tmp_path, legacy):
  torch = pytest.importorskip("torch")
  base = torch.arange(24, dtype=torch.float32)
  sd = collections.OrderedDict(
      w=base.reshape(2, 3, 4), w_t=base[:12].reshape(3, 4).t(), tail=base[20:].reshape(2, 2),
      n=torch.tensor(7), d=torch.linspace(0, 1, 5, dtype=torch.float64)[1::2],
      h=torch.tensor([1.5, -2.0, 3.25], dtype=torch.bfloat16))
  torch.save(sd, tmp_path / "t.pth", _use_new_zipfile_serialization=not legacy)
  got = pth.read_pth(tmp_path / "t.pth")
  assert list(got) == list(sd)
  for k, v in sd.items():
    ref = v.float().numpy() if v.dtype == torch.bfloat16 else v.numpy()
    np.testing.assert_array_equal(np.asarray(got[k], ref.dtype), ref, err_msg=k)
    assert got[k].shape == tuple(v.shape)
