"""The training loop: ``train_and_evaluate(config, workdir)``.

Writes into ``workdir``: ``config.json`` and ``data.json`` (example shape, classes: what
``jaxgan sample`` needs to rebuild the nets); ``metrics.jsonl`` and ``tensorboard/`` (the
logged scalars); ``samples_<step>.png``, ``samples_final.png`` and ``losses.png``;
``checkpoints/`` (orbax, the whole train state, every ``checkpoint_every`` steps, at the
end, and on SIGTERM/SIGINT); ``summary.json``.

A run restarted on the same workdir resumes from its latest readable checkpoint (newer,
unreadable ones are moved aside: ``checkpoint.set_aside``). The data of step s is drawn
from ``fold_in(data_key, s)`` and the step's own key is ``fold_in(state.key, s)``, so a
resumed run computes exactly what an uninterrupted one would have. The workdir is locked
for the run (``jaxgan.workdir_lock``); a resume may change only what
``jaxgan.resume.FREE`` lists unless ``train.allow_config_change``, and nothing in the
workdir is written before the resume is accepted (config, checkpoint and step count
checked). With ``on_nonfinite='skip'`` a run fails (DivergenceError) at a checkpoint
where more than half of the steps it trained were skipped.

``hooks`` are the loop's extension points (in the spirit of clu's periodic actions):
callables ``hook(step, state, metrics)`` run after each compiled call (each step, or with
``train.steps_per_call`` > 1 the last of the call's steps, with its metrics), before it is
logged or checkpointed.
"""

from __future__ import annotations

import contextlib
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

from jaxgan import checkpoint, losses, parallel, plotting, resume, xla_cpu
from jaxgan.best_fid import BestFid
from jaxgan.config import HYPERPARAMETERS, initial_state, step_config
from jaxgan.data import toy
from jaxgan.data.source import make_source
from jaxgan.metrics import training_eval
from jaxgan.metrics.mode_coverage import mode_coverage
from jaxgan.packing import on_copies
from jaxgan.metric_writer import MetricWriter
from jaxgan.train_state import GANState
from jaxgan.train_step import make_train_step
from jaxgan.validation import (ConfigError, check_schema, config_warnings, validate_config,
                               validate_distributed, validate_for_data)
from jaxgan.workdir_lock import WorkdirLock

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
    d = lambda x: on_copies(state.d, jnp.asarray(x))  # Packs of copies when D is packed.
    critic = lambda x: jax.nn.sigmoid(d(x)) if to_prob else d(x)
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
  """Looks at the steps run since the last check; returns how many were non-finite.

  ``pending`` holds (first step, metrics) per call: scalars for one step, arrays with a
  leading step axis for several.
  """
  if not pending:
    return 0
  flags = [np.atleast_1d(f) for f in jax.device_get([m["nonfinite"] for _, m in pending])]
  where = [(first + i, m, i if f.ndim and np.ndim(m["nonfinite"]) else None)
           for (first, m), f in zip(pending, flags) for i in range(len(f))]
  bad = np.flatnonzero(np.concatenate(flags))
  if bad.size == 0:
    return 0
  step, metrics, index = where[int(bad[0])]
  values = _to_host(metrics if index is None else jax.tree.map(lambda x: x[index], metrics))
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


class OutOfMemoryError(ConfigError):
  """The device ran out of memory; the message names the settings to lower."""


def _memory_settings(config: ml_collections.ConfigDict, phase: str) -> str:
  """The settings that bound the memory of ``phase``, with their values."""
  m, d, t = config.model, config.data, config.train
  model = ([("model.width", m.width), ("model.depth", m.depth)] if m.name == "mlp" else
           [("model.features", m.features)])
  if phase.startswith("sampling"):
    fields = [("train.eval_samples", t.eval_samples)] if m.name == "mlp" else model
  elif phase.startswith("training"):
    fields = [("data.batch_size", d.batch_size), ("train.n_critic", t.n_critic), *model]
    if m.name == "dcgan" and m.dtype == "float32":
      fields.append(("model.dtype", "'float32' ('bfloat16' halves the activations)"))
  else:
    fields = model + ([("model.latent_dim", m.latent_dim)] if m.name == "mlp" else [])
  return ", ".join(f"config.{k}={v}" for k, v in fields)


def _saved_config(workdir: pathlib.Path) -> dict | None:
  path = workdir / "config.json"
  if not path.exists():
    return None
  saved = resume.read_json(path)
  if not isinstance(saved, dict):
    raise ConfigError(f"{path} does not hold a config (a JSON object); move the run away")
  return saved


def _restore(manager, state, workdir: pathlib.Path, config, saved: dict | None):
  """(the latest readable checkpoint, the newer unreadable steps); the differing config
  fields are named when the checkpoint does not fit."""
  try:
    return checkpoint.restore_with_fallback(manager, state)
  except checkpoint.CheckpointError as e:
    diff = ([c for c in resume.changes(saved, config) if not resume.is_free(c.field)]
            if saved is not None else [])
    if diff and "different model" in str(e):
      raise checkpoint.CheckpointError(
          f"{e}\nconfig fields that differ from the run saved in {workdir}:\n  " +
          "\n  ".join(map(str, diff)) + "\nUse another --workdir for a different model."
      ) from None
    raise


def _apply_changes(state: GANState, changed: list[resume.Change], mesh) -> GANState:
  """Warns about each accepted config change; sets the changed numbers of the state."""
  names = state.hyperparameters()
  values = {}
  for c in changed:
    logging.warning("Resuming with config.%s=%r instead of the run's %r "
                    "(config.train.allow_config_change=True).", c.field, c.new, c.old)
    name = HYPERPARAMETERS.get(c.field)
    if name in names:
      values[name] = c.new
  return parallel.replicate(state.with_hyperparameters(values), mesh) if values else state


def _too_many_skipped(skipped: int, trained: int, start: int, last_good: int | None,
                      ckpt_dir: pathlib.Path) -> DivergenceError:
  where = (f"the last checkpoint, step {last_good} in {ckpt_dir}, is kept" if last_good
           else "no checkpoint was saved")
  return DivergenceError(
      f"{skipped} of the {trained} steps trained since step {start} had non-finite losses or "
      "gradients and were skipped (config.train.on_nonfinite='skip' tolerates at most half "
      f"of them); {where}. Lower the learning rates, or check the data.")


class _Phase:
  """What the loop is doing, for the out-of-memory message."""
  what = "building the train state"


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       hooks: Sequence[Hook] = ()) -> GANState:
  """Trains the configured GAN in ``workdir`` (resuming if it holds a checkpoint).

  One training at a time per workdir (``jaxgan.workdir_lock``); a resume may change only
  the fields ``jaxgan.resume.FREE`` unless ``config.train.allow_config_change``; nothing
  in the workdir is written before the resume is accepted.

  Args:
    config: a config of the schema ``jaxgan.config.get_config()``; validated here.
    workdir: where metrics, pictures and checkpoints go.
    hooks: ``hook(step, state, metrics)`` called after each compiled call (``step``
      counts the steps done), before the step is logged or checkpointed.

  Returns:
    The final train state.

  Raises:
    ConfigError (OutOfMemoryError: which settings to lower), CheckpointError, DataError,
    WorkdirLocked, DivergenceError, TrainingInterrupted.
  """
  if not str(workdir).strip():
    raise ConfigError("--workdir is empty: name the run's directory (empty would train into "
                      "the current one)")
  check_schema(config)
  if config.distributed.enabled:  # Must come before any other JAX call.
    validate_distributed(config)
    dist = config.distributed
    try:
      parallel.initialize_distributed(dist.coordinator, dist.num_processes, dist.process_id)
    except (ValueError, RuntimeError) as e:
      raise ConfigError(
          f"config.distributed.enabled=True, but jax.distributed did not start "
          f"({' '.join(str(e).split())[:300]}); set config.distributed.coordinator="
          "'host:port', num_processes and process_id, or run where JAX detects the cluster "
          "(SLURM, Open MPI, Cloud TPU)") from None
  validate_config(config, jax.device_count())
  for warning in config_warnings(config):
    logging.warning("%s", warning)
  workdir_path = pathlib.Path(workdir)
  workdir_path.mkdir(parents=True, exist_ok=True)
  phase = _Phase()
  lock = WorkdirLock(workdir_path) if jax.process_index() == 0 else contextlib.nullcontext()
  try:
    with lock:
      return _train(config, workdir_path, hooks, phase)
  except jax.errors.JaxRuntimeError as e:
    if "RESOURCE_EXHAUSTED" not in str(e):
      raise
    message = " ".join(str(e).split())[:200]
    raise OutOfMemoryError(
        f"the device ran out of memory while {phase.what} ({message}); lower "
        f"{_memory_settings(config, phase.what)}") from None


def _train(config: ml_collections.ConfigDict, workdir_path: pathlib.Path,
           hooks: Sequence[Hook], phase: _Phase) -> GANState:
  """The loop of ``train_and_evaluate``, with the workdir locked."""
  t = config.train
  mesh = parallel.make_mesh()
  d = config.data
  source = make_source(d.name, batch_size=d.batch_size, n_critic=t.n_critic, seed=config.seed,
                       sharding=parallel.batch_sharding(mesh), path=d.path, split=d.split,
                       data_dir=d.data_dir, image_size=d.image_size, source=d.source,
                       workers=d.workers, prefetch=d.prefetch, on_error=d.on_error)
  validate_for_data(config, source.shape, source.num_classes, jax.device_count())
  saved = _saved_config(workdir_path)
  ckpt_dir = workdir_path / "checkpoints"
  manager = checkpoint.make_manager(ckpt_dir, t.keep_checkpoints)
  writer = None
  try:
    changed = (resume.check_resume(saved, config, workdir_path)
               if saved is not None and manager.all_steps() else [])
    state = parallel.replicate(initial_state(config, source.shape, source.num_classes), mesh)
    state, unreadable = _restore(manager, state, workdir_path, config, saved)
    start = int(state.step)
    if start > t.steps:
      raise ConfigError(
          f"config.train.steps={t.steps} is below the step of the checkpoint in {ckpt_dir} "
          f"({start}): that run has trained past it. Raise config.train.steps to go on, or "
          "use another --workdir")
    # The resume is accepted: from here on the run's files may change.
    if unreadable:
      checkpoint.set_aside(manager, unreadable)
    state = _apply_changes(state, changed, mesh)
    eval_key = jax.random.fold_in(jax.random.key(config.seed), 2)
    if start and start == t.steps:
      return _complete(config, state, eval_key, source, workdir_path, start, phase)
    (workdir_path / "config.json").write_text(config.to_json_best_effort(indent=2))
    (workdir_path / "data.json").write_text(json.dumps(
        {"shape": list(source.shape), "num_classes": source.num_classes}))
    phase.what = "computing the in-loop FID's reference"
    evaluator = training_eval.make_evaluator(
        config, training_eval.reference_images(source, config), source.num_classes)
    writer = MetricWriter(workdir_path)
    if changed:
      writer.write_event(start, {"config_change": {c.field: {"from": c.old, "to": c.new}
                                                   for c in changed}})
    if start:
      print(f"Resuming from the checkpoint of step {start} in {workdir_path}")
    best = BestFid(workdir_path) if evaluator is not None else None
    try:
      return _loop(config, state, source, manager, writer, workdir_path, hooks, phase,
                   eval_key, evaluator, best)
    finally:
      if best is not None:
        best.close()
  finally:
    if writer is not None:
      writer.close()
    manager.wait_until_finished()
    manager.close()


def _call_end(step: int, t: ml_collections.ConfigDict) -> int:
  """Where the call that starts after ``step`` ends: ``steps_per_call`` steps later, or
  sooner, at the next step that logs, plots or saves (so those see that step's state)."""
  end = min(step + t.steps_per_call, t.steps)
  for every in (t.log_every, t.plot_every, t.checkpoint_every, t.eval_every):
    if every:  # eval_every 0: no evaluation.
      end = min(end, (step // every + 1) * every)
  return end


def compiled_steps(config: ml_collections.ConfigDict) -> Callable:
  """``run(state, source, first, count) -> (state, metrics)``: ``count`` steps in one call.

  One step is the jitted step on ``source.batch``; several are a ``lax.scan`` of the same
  step over ``source.batches`` (metrics stacked along the steps), compiled once per count.
  """
  one = make_train_step(step_config(config))
  options = xla_cpu.options()  # XLA:CPU's own convolutions (1.6x at DCGAN-64 on a CPU).
  single = jax.jit(one, donate_argnums=0, compiler_options=options)
  several = jax.jit(lambda state, batches: jax.lax.scan(one, state, batches), donate_argnums=0,
                    compiler_options=options)

  def run(state, source, first: int, count: int):
    if count == 1:
      return single(state, source.batch(first))
    return several(state, source.batches(first, count))
  return run


def _loop(config, state: GANState, source, manager, writer: MetricWriter,
          workdir_path: pathlib.Path, hooks: Sequence[Hook], phase: _Phase,
          eval_key: jax.Array, evaluator=None, best: BestFid | None = None) -> GANState:
  t = config.train
  ckpt_dir = workdir_path / "checkpoints"
  start = int(state.step)
  last_good = start or None
  run_steps = compiled_steps(config)
  summary: dict[str, Any] = {}
  pending: list[tuple[int, dict]] = []
  skipped = 0
  t0 = time.time()
  step = start
  with _StopOnSignal() as stop, \
       tqdm(total=t.steps, initial=start, desc="train", unit="step", mininterval=1.0) as bar:
    while step < t.steps:
      done = _call_end(step, t)
      phase.what = f"training step {step + 1}" + (f"..{done}" if done > step + 1 else "")
      state, metrics = run_steps(state, source, step, done - step)
      pending.append((step + 1, metrics))
      if done > step + 1:  # Several steps: the last one's metrics stand for the call.
        metrics = jax.tree.map(lambda x: x[-1], metrics)
      for hook in hooks:
        hook(done, state, metrics)
      last = done == t.steps
      log, plot = done % t.log_every == 0, done % t.plot_every == 0 or last
      scored = evaluator is not None and (done % t.eval_every == 0 or last)
      save = done % t.checkpoint_every == 0 or last or stop.signum is not None
      if log or plot or save or len(pending) >= 100:
        skipped += _check_finite(pending, t.on_nonfinite, last_good, ckpt_dir)
        pending = []
      if save and skipped * 2 > done - start:
        raise _too_many_skipped(skipped, done - start, start, last_good, ckpt_dir)
      if log or plot or scored:
        row = {**_to_host(metrics), "skipped_steps": skipped}
        if plot:
          phase.what = f"sampling for the evaluation of step {done}"
          png = workdir_path / ("samples_final.png" if last else f"samples_{done:06d}.png")
          row.update(measure_and_plot(config, state, eval_key, source, png))
          writer.write_image(done, "samples", png)
        if scored:
          phase.what = f"the in-loop FID of step {done}"
          row.update(evaluator(state, jax.random.fold_in(eval_key, 1)))  # The same z each time.
        row["elapsed_s"] = round(time.time() - t0, 3)
        writer.write(done, row)
        summary = {**summary, "step": done, **row}  # Keeps the latest evaluation.
        bar.set_postfix({k: f"{summary[k]:.3g}" for k in ("d_loss", "g_loss", "modes")
                         if k in summary}, refresh=False)
        if plot:
          _plot_curves(workdir_path)
      if save:
        checkpoint.save(manager, done, state)
        last_good = done
      if scored:
        best.offer(done, row["fid"], state)
      bar.update(done - step)
      step = done
      if stop.signum is not None:
        manager.wait_until_finished()
        raise TrainingInterrupted(stop.signum, done)
  if start >= t.steps:  # train.steps=0: nothing to train; still describe the initial state.
    summary = {"step": start, **measure_and_plot(config, state, eval_key, source,
                                                 workdir_path / "samples_final.png")}
  summary["train_seconds"] = round(time.time() - t0, 3)
  (workdir_path / "summary.json").write_text(json.dumps(summary, indent=2))
  _print_summary(summary, workdir_path, start)
  return state


def _plot_curves(workdir: pathlib.Path) -> None:
  """losses.png; a picture that cannot be drawn is warned about, never stops the run."""
  try:
    plotting.plot_curves(workdir / "metrics.jsonl", workdir / "losses.png")
  except Exception as e:  # noqa: BLE001 - a picture is not worth a run.
    logging.warning("losses.png not updated: %s: %s", type(e).__name__, e)


def _complete(config, state: GANState, eval_key, source, workdir: pathlib.Path, start: int,
              phase: _Phase) -> GANState:
  """A rerun of a finished run: says so; describes it (again, if summary.json is stale)."""
  print(f"The run in {workdir} is complete: its checkpoint is at step {start} = "
        "config.train.steps; nothing to train (raise config.train.steps to go on).")
  path = workdir / "summary.json"
  try:
    summary = resume.read_json(path) if path.exists() else None
  except ConfigError:
    summary = None
  if not isinstance(summary, dict) or summary.get("step") != start:
    phase.what = f"sampling for the evaluation of step {start}"
    summary = {"step": start, **measure_and_plot(config, state, eval_key, source,
                                                 workdir / "samples_final.png")}
    summary["train_seconds"] = 0.0
    path.write_text(json.dumps(summary, indent=2))
  _print_summary(summary, workdir, start)
  return state


def _print_summary(summary: dict[str, Any], workdir: pathlib.Path, start: int) -> None:
  end = summary.get("step", start)
  seconds = summary.get("train_seconds", 0.0)
  lines = []
  if end > start:
    rate = (end - start) / seconds if seconds else 0.0
    lines.append(f"Trained steps {start}..{end} in {seconds:.1f} s ({rate:.1f} steps/s, "
                 "compilation included).")
  for k in ("d_loss", "g_loss", "d_penalty", "d_real_minus_fake", "modes", "high_quality",
            "fid", "kid", "precision", "recall", "skipped_steps"):
    if isinstance(summary.get(k), (int, float)):
      suffix = f" of {summary['n_modes']}" if k == "modes" and "n_modes" in summary else ""
      lines.append(f"  {k:18s} {summary[k]:.4g}{suffix}")
  lines.append(f"Pictures, metrics (metrics.jsonl, tensorboard/), checkpoints: {workdir}")
  print("\n".join(lines))
