"""``train.py`` with faults injected from the test side, for the reliability tests.

    python tests/faulty_train.py FAULTS [train.py arguments...]

FAULTS is a comma-separated list of ``kind@step`` (steps numbered as in metrics and
checkpoints: step S is the S-th generator update):

- ``nan@S``: the real batch of step S is all NaN (the data source is wrapped);
- ``sigkill@S`` / ``sigterm@S``: the process sends itself that signal once step S has
  run, before it is logged or checkpointed (a hook of ``train_and_evaluate``).

Nothing in the library reads these: the loop's only extension point is its ``hooks``.
"""

import functools
import os
import signal
import sys

import jax
import jax.numpy as jnp

from jaxgan import cli, train

KINDS = {"nan": None, "sigkill": signal.SIGKILL, "sigterm": signal.SIGTERM}


def _parse(spec: str) -> list[tuple[str, int]]:
  faults = []
  for item in filter(None, spec.split(",")):
    kind, _, step = item.partition("@")
    if kind not in KINDS or not step.isdigit():
      raise SystemExit(f"bad fault {item!r}: use kind@step with kind in {', '.join(KINDS)}")
    faults.append((kind, int(step)))
  return faults


def poison(make_source, nan_steps: set[int]):
  """``make_source`` whose sources give all-NaN batches for the steps in ``nan_steps``."""
  def wrapped(*args, **kwargs):
    source = make_source(*args, **kwargs)
    batch, batches = source.batch, source.batches
    nan = lambda x: x * jnp.nan if jnp.issubdtype(x.dtype, jnp.floating) else x

    def poisoned(index: int):  # index: 0-based, the batch of step index + 1.
      out = batch(index)
      return jax.tree.map(nan, out) if index + 1 in nan_steps else out

    def poisoned_many(first: int, count: int):  # Several steps' batches, stacked.
      out = batches(first, count)
      for i in range(count):
        if first + i + 1 in nan_steps:
          out = jax.tree.map(lambda x, i=i: x.at[i].set(nan(x[i])), out)
      return out

    source.batch, source.batches = poisoned, poisoned_many
    return source
  return wrapped


def main() -> None:
  faults = _parse(sys.argv[1])
  train.make_source = poison(train.make_source, {s for k, s in faults if k == "nan"})

  def signal_hook(step, state, metrics):
    del state, metrics
    for kind, at in faults:
      if at == step and KINDS[kind] is not None:
        os.kill(os.getpid(), KINDS[kind])

  train.train_and_evaluate = functools.partial(train.train_and_evaluate, hooks=[signal_hook])
  cli.train([sys.argv[0], *sys.argv[2:]])


if __name__ == "__main__":
  main()
