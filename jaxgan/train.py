"""The training loop: ``train_and_evaluate(config, workdir)``.

Writes into ``workdir``: ``config.json`` and ``data.json`` (example shape, classes: what
``jaxgan sample`` needs to rebuild the nets); ``metrics.jsonl`` and ``tensorboard/`` (the
logged scalars); ``samples_<step>.png``, ``samples_final.png`` and ``losses.png``;
``checkpoints/`` (orbax, the whole train state, every ``checkpoint_every`` steps, at the
end, and on SIGTERM/SIGINT); ``summary.json``.

A run restarted on the same workdir resumes from its latest readable checkpoint. The
data of step s is drawn from ``fold_in(data_key, s)`` and the step's own key is
``fold_in(state.key, s)``, so a resumed run computes exactly what an uninterrupted one
would have.

``hooks`` are the loop's extension points (in the spirit of clu's periodic actions):
callables ``hook(step, state, metrics)`` run after each step, before it is logged or
checkpointed.
"""

from __future__ import annotations

import json
import math
import pathlib
import signal
import threading
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from tqdm.auto import tqdm

from jaxgan import checkpoint, losses, parallel, plotting
from jaxgan.config import initial_state, step_config
from jaxgan.data import toy
from jaxgan.data.source import make_source
from jaxgan.metrics.mode_coverage import mode_coverage
from jaxgan.metric_writer import MetricWriter
from jaxgan.train_state import GANState
from jaxgan.train_step import make_train_step
from jaxgan.validation import validate_config, validate_for_data

Hook = Callable[[int, GANState, dict], None]


def measure_and_plot(config: ml_collections.ConfigDict, state: GANState, key: jax.Array,
                     source, png: pathlib.Path | None = None) -> dict[str, Any]:
  """Toy data: mode coverage and samples over the data. Images: a grid of samples."""
  name = config.data.name
  title = f"{config.loss.game} on {name}, step {int(state.step)}"
  if len(source.shape) == 3:  # Images: one row per class for a conditional G.
    if png is not None:
      k = source.num_classes if config.model.conditional_g else 0
      rows, cols = (k, 10) if k else (8, 8)
      labels = jnp.repeat(jnp.arange(k), cols) if k else None
      fake = state.sample(key, rows * cols, labels)
      plotting.save_image_grid(png, fake, rows, title, list(range(k)) if k else None)
    return {}
  n = config.train.eval_samples
  fake = np.asarray(state.sample(key, n))
  result: dict[str, Any] = {}
  if name in ("8gaussians", "25gaussians"):
    cov = mode_coverage(fake, toy.mode_centers(name), toy.mode_std(name))
    result = {"modes": cov["modes"], "n_modes": len(cov["counts"]),
              "high_quality": cov["high_quality"]}
    title += f": {result['modes']}/{result['n_modes']} modes"
  if png is not None:
    to_prob = losses.GAMES[config.loss.game].smoothable  # Show D(x) = sigmoid(logit).
    critic = lambda x: jax.nn.sigmoid(state.d(x)) if to_prob else state.d(x)
    density = ((lambda x: jnp.exp(toy.mog1d_log_density(x))) if name == "mog1d" else None)
    plotting.plot_toy(png, source.real_sample(n), fake, critic, density, title)
  return result


def _to_host(metrics: dict[str, jax.Array]) -> dict[str, float]:
  return {k: float(v) for k, v in jax.device_get(metrics).items()}


class DivergenceError(FloatingPointError):
  """A loss or gradient norm became NaN or infinite."""


class TrainingInterrupted(Exception):
  """SIGTERM or SIGINT arrived; the state was checkpointed before stopping."""

  def __init__(self, signum: int, step: int):
    super().__init__(f"stopped by {signal.Signals(signum).name} after step {step}; "
                     "its checkpoint is saved, rerun the same command to resume")
    self.signum, self.step = signum, step


class _StopOnSignal:
  """Turns SIGTERM and SIGINT into a flag that the loop checks between steps.

  A second SIGINT while the first is being handled stops at once (KeyboardInterrupt).
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.signum: int | None = None
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if self.signum == signal.SIGINT and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.signum = signum

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
    return self

  def __exit__(self, *exc):
    for s, handler in self._previous.items():
      signal.signal(s, handler)


def _check_finite(pending: list[tuple[int, dict]], on_nonfinite: str, last_good: int | None,
                  ckpt_dir: pathlib.Path) -> int:
  """Looks at the steps run since the last check; returns how many were non-finite."""
  if not pending:
    return 0
  flags = np.asarray(jax.device_get([m["nonfinite"] for _, m in pending]))
  bad = np.flatnonzero(flags)
  if bad.size == 0:
    return 0
  step, metrics = pending[int(bad[0])]
  values = _to_host(metrics)
  names = [k for k, v in values.items() if not math.isfinite(v)]
  if on_nonfinite == "skip":
    logging.warning("Skipped %d non-finite step(s), the first at step %d (%s).", bad.size, step,
                    ", ".join(names))
    return int(bad.size)
  where = (f"the last good checkpoint is step {last_good} in {ckpt_dir}" if last_good
           else "no checkpoint was saved yet")
  shown = ", ".join(f"{k}={values[k]:.4g}" for k in sorted(values) if k != "nonfinite")
  raise DivergenceError(
      f"training diverged at step {step}: non-finite {', '.join(names)} ({shown}). That step "
      f"did not change the parameters and nothing after it was saved; {where}. Lower the "
      "learning rates, or set config.train.on_nonfinite='skip' to skip such steps.")


def _config_diff(old_json: str | None, config: ml_collections.ConfigDict) -> list[str]:
  if not old_json:
    return []
  flat = lambda d, p="": ({f"{p}{k}": v for k, v in d.items() if not isinstance(v, dict)} |
                          {kk: vv for k, v in d.items() if isinstance(v, dict)
                           for kk, vv in flat(v, f"{p}{k}.").items()})
  old, new = flat(json.loads(old_json)), flat(json.loads(config.to_json_best_effort()))
  return [f"config.{k}: {old.get(k)!r} (checkpoint) vs {new.get(k)!r} (now)"
          for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)]


def _restore(manager, state, workdir: pathlib.Path, config) -> GANState:
  """The latest checkpoint, with the differing config fields named when it does not fit."""
  config_file = workdir / "config.json"
  old_json = config_file.read_text() if config_file.exists() else None
  try:
    state = checkpoint.restore_latest(manager, state)
  except checkpoint.CheckpointError as e:
    diff = _config_diff(old_json, config)
    if diff and "different model" in str(e):
      raise checkpoint.CheckpointError(
          f"{e}\nconfig fields that differ from the run saved in {workdir}:\n  " +
          "\n  ".join(diff) + "\nUse another --workdir for a different model.") from None
    raise
  config_file.write_text(config.to_json_best_effort(indent=2))
  return state


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       hooks: Sequence[Hook] = ()) -> GANState:
  """Trains the configured GAN in ``workdir`` (resuming if it holds a checkpoint).

  Args:
    config: a config of the schema ``jaxgan.config.get_config()``; validated here.
    workdir: where metrics, pictures and checkpoints go.
    hooks: ``hook(step, state, metrics)`` called after each step (``step`` counts the
      steps done), before the step is logged or checkpointed.

  Returns:
    The final train state.
  """
  if config.distributed.enabled:  # Must come before any other JAX call.
    dist = config.distributed
    parallel.initialize_distributed(dist.coordinator, dist.num_processes, dist.process_id)
  validate_config(config, jax.device_count())
  workdir_path = pathlib.Path(workdir)
  workdir_path.mkdir(parents=True, exist_ok=True)
  t = config.train

  mesh = parallel.make_mesh()
  d = config.data
  source = make_source(d.name, batch_size=d.batch_size, n_critic=t.n_critic, seed=config.seed,
                       sharding=parallel.batch_sharding(mesh), path=d.path, split=d.split,
                       data_dir=d.data_dir, image_size=d.image_size)
  validate_for_data(config, source.shape, source.num_classes)
  (workdir_path / "data.json").write_text(json.dumps(
      {"shape": list(source.shape), "num_classes": source.num_classes}))
  state = parallel.replicate(initial_state(config, source.shape, source.num_classes), mesh)
  ckpt_dir = workdir_path / "checkpoints"
  manager = checkpoint.make_manager(ckpt_dir, t.keep_checkpoints)
  state = _restore(manager, state, workdir_path, config)
  start = int(state.step)
  last_good = start or None
  if start:
    print(f"Resuming from the checkpoint of step {start} in {workdir_path}")

  train_step = jax.jit(make_train_step(step_config(config)), donate_argnums=0)
  eval_key = jax.random.fold_in(jax.random.key(config.seed), 2)

  summary: dict[str, Any] = {}
  pending: list[tuple[int, dict]] = []
  skipped = 0
  t0 = time.time()
  writer = MetricWriter(workdir_path)
  try:
    with _StopOnSignal() as stop, \
         tqdm(total=t.steps, initial=start, desc="train", unit="step", mininterval=1.0) as bar:
      for step in range(start, t.steps):
        state, metrics = train_step(state, source.batch(step))
        done = step + 1
        for hook in hooks:
          hook(done, state, metrics)
        pending.append((done, metrics))
        last = done == t.steps
        log, plot = done % t.log_every == 0, done % t.plot_every == 0 or last
        save = done % t.checkpoint_every == 0 or last or stop.signum is not None
        if log or plot or save or len(pending) >= 100:
          skipped += _check_finite(pending, t.on_nonfinite, last_good, ckpt_dir)
          pending = []
        if log or plot:
          row = {**_to_host(metrics), "skipped_steps": skipped}
          if plot:
            png = workdir_path / ("samples_final.png" if last else f"samples_{done:06d}.png")
            row.update(measure_and_plot(config, state, eval_key, source, png))
          row["elapsed_s"] = round(time.time() - t0, 3)
          writer.write(done, row)
          summary = {**summary, "step": done, **row}  # Keeps the latest evaluation.
          bar.set_postfix({k: f"{summary[k]:.3g}" for k in ("d_loss", "g_loss", "modes")
                           if k in summary}, refresh=False)
          if plot:
            plotting.plot_curves(workdir_path / "metrics.jsonl", workdir_path / "losses.png")
        if save:
          checkpoint.save(manager, done, state)
          last_good = done
        bar.update(1)
        if stop.signum is not None:
          manager.wait_until_finished()
          raise TrainingInterrupted(stop.signum, done)
  finally:
    writer.close()
    manager.wait_until_finished()
    manager.close()
  if start >= t.steps:  # Nothing to train; still describe what is there.
    summary = {"step": start, **measure_and_plot(config, state, eval_key, source,
                                                 workdir_path / "samples_final.png")}
  summary["train_seconds"] = round(time.time() - t0, 3)
  (workdir_path / "summary.json").write_text(json.dumps(summary, indent=2))
  _print_summary(summary, workdir_path, start)
  return state


def _print_summary(summary: dict[str, Any], workdir: pathlib.Path, start: int) -> None:
  steps = summary.get("step", start) - start
  rate = steps / summary["train_seconds"] if summary["train_seconds"] else 0.0
  lines = [f"Trained steps {start}..{summary.get('step', start)} in "
           f"{summary['train_seconds']:.1f} s ({rate:.1f} steps/s, compilation included)."]
  for k in ("d_loss", "g_loss", "d_penalty", "d_real_minus_fake", "modes", "high_quality",
            "skipped_steps"):
    if k in summary:
      suffix = f" of {summary['n_modes']}" if k == "modes" else ""
      lines.append(f"  {k:18s} {summary[k]:.4g}{suffix}")
  lines.append(f"Pictures, metrics (metrics.jsonl, tensorboard/), checkpoints: {workdir}")
  print("\n".join(lines))
