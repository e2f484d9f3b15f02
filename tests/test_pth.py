"""Tests for jaxgan.pth: reading hand-built and (when PyTorch is installed) torch.save files."""

from __future__ import annotations

import collections
import zipfile

import ml_dtypes
import numpy as np
import pytest

from jaxgan import pth
from pth_writers import Global, Storage, Tensor, dumps, storages_of, write_legacy, write_zip

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
