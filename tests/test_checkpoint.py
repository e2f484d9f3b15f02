"""Checkpoints: round trip, corrupted latest falls back, another model's checkpoint refused."""

import pathlib
import sys

import jax
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from configs import test as test_config  # noqa: E402
from jaxgan import checkpoint  # noqa: E402
from jaxgan.config import initial_state  # noqa: E402


def _state(width=16, seed=0):
  c = test_config.get_config()
  c.model.width, c.seed = width, seed
  return initial_state(c)


def _save_steps(directory, *steps):
  manager = checkpoint.make_manager(directory, keep=5)
  for s in steps:
    checkpoint.save(manager, s, _state(seed=s).replace(step=np.int32(s)))
  manager.wait_until_finished()
  manager.close()


def _leaves_equal(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_round_trip_restores_the_newest(tmp_path):
  _save_steps(tmp_path, 1, 2)
  restored = checkpoint.restore_latest(checkpoint.make_manager(tmp_path, 5), _state())
  assert int(restored.step) == 2
  assert _leaves_equal(restored.g.params, _state(seed=2).g.params)
  assert _leaves_equal(restored.d.opt_state, _state(seed=2).d.opt_state)


def test_no_checkpoint_returns_the_given_state(tmp_path):
  state = _state()
  assert checkpoint.restore_latest(checkpoint.make_manager(tmp_path, 5), state) is state


def _corrupt(step_dir: pathlib.Path):
  """Overwrites every data file of a checkpoint with garbage, as a torn write would."""
  files = [p for p in step_dir.rglob("*") if p.is_file() and p.name != "_CHECKPOINT_METADATA"]
  assert files
  for p in files:
    p.write_bytes(b"\x00garbage" * 3)


def test_corrupted_latest_falls_back_to_the_previous(tmp_path, caplog):
  _save_steps(tmp_path, 1, 2)
  _corrupt(tmp_path / "2")
  restored = checkpoint.restore_latest(checkpoint.make_manager(tmp_path, 5), _state())
  assert int(restored.step) == 1
  assert _leaves_equal(restored.g.params, _state(seed=1).g.params)
  assert "step 2" in caplog.text or "of step 2" in caplog.text


def test_all_corrupted_is_a_clear_error(tmp_path):
  _save_steps(tmp_path, 1)
  _corrupt(tmp_path / "1")
  with pytest.raises(checkpoint.CheckpointError, match="no readable checkpoint"):
    checkpoint.restore_latest(checkpoint.make_manager(tmp_path, 5), _state())


def test_checkpoint_of_another_model_is_refused_naming_the_arrays(tmp_path):
  _save_steps(tmp_path, 1)
  with pytest.raises(checkpoint.CheckpointError) as err:
    checkpoint.restore_latest(checkpoint.make_manager(tmp_path, 5), _state(width=32))
  message = str(err.value)
  assert "different model" in message
  assert "d.params.Dense_0.kernel: checkpoint (2, 16) vs now (2, 32)" in message


def test_checkpoints_of_the_0_1_layout_are_refused_saying_why(tmp_path):
  _save_steps(tmp_path, 1)
  (tmp_path / "jaxgan_format.json").unlink()  # As jaxgan 0.1 left its checkpoint folders.
  with pytest.raises(checkpoint.CheckpointError, match="layout 1 .*jaxgan 0.1.*another --workdir"):
    checkpoint.restore_latest(checkpoint.make_manager(tmp_path, 5), _state())


def test_a_new_directory_is_marked_with_the_layout(tmp_path):
  checkpoint.make_manager(tmp_path / "ck", 5)
  import json
  assert json.loads((tmp_path / "ck" / "jaxgan_format.json").read_text()) == {
      "format": checkpoint.FORMAT}


def _truncate(step_dir: pathlib.Path, size=100):
  """`truncate -s 100` on a checkpoint's data files (orbax's OCDBT 'd/' files)."""
  files = [p for p in step_dir.rglob("*") if p.is_file() and p.parent.name == "d"]
  assert files
  for p in files:
    with open(p, "r+b") as f:
      f.truncate(size)


def test_unreadable_steps_are_set_aside_and_can_be_saved_again(tmp_path):
  """Issue 18.1: orbax refuses to save a step whose directory exists (StepAlreadyExists)."""
  _save_steps(tmp_path, 1, 2)
  _truncate(tmp_path / "2")
  manager = checkpoint.make_manager(tmp_path, 5)
  restored, unreadable = checkpoint.restore_with_fallback(manager, _state())
  assert int(restored.step) == 1 and unreadable == [2]
  (moved,) = checkpoint.set_aside(manager, unreadable)
  assert moved == tmp_path / "unreadable" / "2" and moved.is_dir()
  assert manager.all_steps() == [1]
  checkpoint.save(manager, 2, _state(seed=2).replace(step=np.int32(2)))
  manager.wait_until_finished()
  assert int(checkpoint.restore_latest(manager, _state()).step) == 2
  _truncate(tmp_path / "2")  # Unreadable again: kept beside the first, not overwritten.
  _, unreadable = checkpoint.restore_with_fallback(manager, _state())
  assert checkpoint.set_aside(manager, unreadable) == [tmp_path / "unreadable" / "2.1"]


def test_fallback_warnings_are_one_line(tmp_path, caplog):
  """Issue 18.7: no TensorStore spec (60 lines of JSON) in the warning."""
  _save_steps(tmp_path, 1, 2)
  _truncate(tmp_path / "2")
  checkpoint.restore_latest(checkpoint.make_manager(tmp_path, 5), _state())
  (record,) = [r for r in caplog.records if "step 2" in r.getMessage()]
  message = record.getMessage()
  assert "\n" not in message and "tensorstore_spec" not in message and len(message) < 400
  assert "is not valid for value of size 100" in message  # The cause, at the chain's end.
