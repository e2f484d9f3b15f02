"""One writer per run directory: ``with WorkdirLock(workdir): ...``.

The lock is the file ``<workdir>/jaxgan.lock``, holding the owner's pid, host, start time
and command line as JSON, and held with ``flock`` for as long as the owner runs: the
kernel releases it when the process dies, however it dies. A second process is refused
(``WorkdirLocked``, naming the owner). A lock file left by a dead process (SIGKILL, a
crash of the machine) on this host is taken over with a warning; one naming another
host (a workdir on a network file system shared by hosts, where ``flock`` may not reach
across hosts) is refused, since that process's life cannot be checked from here: delete
the file if that run is gone.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import pathlib
import socket
import sys

from absl import logging

LOCK_FILE = "jaxgan.lock"


class WorkdirLocked(RuntimeError):
  """Another process holds the run directory."""


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Alive, owned by someone else.
    return True
  return True


def _describe(owner: dict) -> str:
  return (f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}, started "
          f"{owner.get('started', '?')}: {owner.get('command', '?')}")


class WorkdirLock:
  """Context manager holding ``<workdir>/jaxgan.lock``; re-entrant use is an error."""

  def __init__(self, workdir: str | os.PathLike, command: str | None = None):
    self.path = pathlib.Path(workdir) / LOCK_FILE
    self.command = command if command is not None else " ".join(sys.argv)
    self._fd: int | None = None

  def _read_owner(self, fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    data = b""
    while chunk := os.read(fd, 65536):
      data += chunk
    try:
      owner = json.loads(data) if data.strip() else {}
    except ValueError:
      owner = {}
    return owner if isinstance(owner, dict) else {}

  def _open_locked(self) -> int:
    """An fd of the lock file with its flock held (raises WorkdirLocked if busy)."""
    while True:
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        owner = self._read_owner(fd)
        os.close(fd)
        raise WorkdirLocked(
            f"{self.path.parent} is in use by another training ({_describe(owner)}); wait "
            f"for it to finish, stop it, or use another --workdir") from None
      try:  # The holder may have removed the file between our open and flock: retry.
        if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
          return fd
      except FileNotFoundError:
        pass
      os.close(fd)

  def acquire(self) -> "WorkdirLock":
    if self._fd is not None:
      raise RuntimeError(f"{self.path} is already held by this WorkdirLock")
    fd = self._open_locked()
    try:
      owner, host = self._read_owner(fd), socket.gethostname()
      if owner:
        pid = owner.get("pid")
        if owner.get("host") != host:
          raise WorkdirLocked(
              f"{self.path} names a training on another host ({_describe(owner)}); its "
              "process cannot be checked from here. If that run is gone, delete the file")
        alive = isinstance(pid, int) and pid != os.getpid() and _pid_alive(pid)
        logging.warning("Taking over the lock %s left by %s (%s).", self.path,
                        _describe(owner), "no longer holding it" if alive else "not running")
      record = {"pid": os.getpid(), "host": host, "command": self.command,
                "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
      os.ftruncate(fd, 0)
      os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
      os.fsync(fd)
    except BaseException:
      os.close(fd)
      raise
    self._fd = fd
    return self

  def release(self) -> None:
    if self._fd is None:
      return
    try:
      self.path.unlink(missing_ok=True)
    finally:
      os.close(self._fd)  # Releases the flock.
      self._fd = None

  def __enter__(self) -> "WorkdirLock":
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()
