"""One training per workdir (issue 18.4): jaxgan.workdir_lock and the loop that holds it."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from jaxgan.workdir_lock import LOCK_FILE, WorkdirLock, WorkdirLocked


def _dead_pid() -> int:
  child = subprocess.Popen([sys.executable, "-c", "pass"])
  child.wait()
  return child.pid


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
  with WorkdirLock(tmp_path, command="first training"):
    owner = json.loads((tmp_path / LOCK_FILE).read_text())
    assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
    with pytest.raises(WorkdirLocked) as info:
      WorkdirLock(tmp_path).acquire()  # flock: refused also within one process.
    assert f"pid {os.getpid()} on {socket.gethostname()}" in str(info.value)
    assert "first training" in str(info.value)
  assert not (tmp_path / LOCK_FILE).exists()  # Released: the file is gone.
  with WorkdirLock(tmp_path):
    pass


def test_a_stale_lock_of_this_host_is_taken_over_with_a_warning(tmp_path, caplog):
  pid = _dead_pid()
  (tmp_path / LOCK_FILE).write_text(json.dumps(
      {"pid": pid, "host": socket.gethostname(), "started": "then", "command": "old run"}))
  with WorkdirLock(tmp_path):
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
  assert f"Taking over the lock {tmp_path / LOCK_FILE} left by pid {pid}" in caplog.text
  assert "not running" in caplog.text


def test_a_lock_of_another_host_is_refused(tmp_path):
  (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
  with pytest.raises(WorkdirLocked, match="another host .*pid 1 on elsewhere.*delete the file"):
    WorkdirLock(tmp_path).acquire()


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(workdir, *overrides):
  return [sys.executable, os.path.join(ROOT, "train.py"),
          f"--config={os.path.join(ROOT, 'configs/test.py')}", f"--workdir={workdir}",
          *overrides]


@pytest.mark.slow  # Default-suite budget; a cheaper sibling test stays.
def test_two_trainings_into_one_workdir_the_second_is_refused(tmp_path):
  first = subprocess.Popen(_train(tmp_path, "--config.train.steps=1000000",
                                  "--config.train.checkpoint_every=1000000"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
  try:
    deadline = time.time() + 120
    while not (tmp_path / "metrics.jsonl").exists():  # Written once the resume is accepted.
      assert first.poll() is None and time.time() < deadline, first.stderr.read()[-3000:]
      time.sleep(0.2)
    second = subprocess.run(_train(tmp_path), capture_output=True, text=True, timeout=300,
                            cwd=ROOT)
    assert second.returncode == 2, second.stderr[-3000:]
    assert f"is in use by another training (pid {first.pid} on {socket.gethostname()}" in \
        second.stderr
    assert "Traceback" not in second.stderr
  finally:
    first.terminate()
    _, err = first.communicate(timeout=120)
  assert first.returncode == 128 + 15, err[-3000:]
  assert not (tmp_path / LOCK_FILE).exists()
