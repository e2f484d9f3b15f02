"""``run_sweep(config, workdir, axes)``: a grid of runs, each group one compiled program.

Writes into ``workdir``: ``sweep.json`` (the axes, every variant's setting and group),
``config.json`` and ``data.json`` (as a single run); ``metrics.jsonl`` (one row per
variant and logged step, with the variant's index and setting) and
``tensorboard/variant_NNN/``; ``checkpoints/group_G/`` (the group's stacked state, every
``checkpoint_every`` steps, at the end, and on SIGTERM/SIGINT; a rerun resumes, bitwise
on the CPU); ``samples_final.png`` (a panel per variant); ``summary.json`` (every
variant's final metrics and divergence), ``summary.csv``, ``summary.md`` and
``summary.png`` (mean and standard error over seeds; see ``jaxgan.sweep.summary``).
"""

from __future__ import annotations

import json
import math
import pathlib
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from tensorboardX import SummaryWriter
from tqdm.auto import tqdm

from jaxgan import checkpoint, resume, xla_cpu
from jaxgan import plotting
from jaxgan.data import images as image_data
from jaxgan.data import toy
from jaxgan.metrics import training_eval
from jaxgan.metrics.mode_coverage import mode_coverage
from jaxgan.packing import on_copies
from jaxgan.sweep import program, summary
from jaxgan.sweep.grid import Axis, Grid, SweepError, Variant, make_grid
from jaxgan.train import TrainingInterrupted, _StopOnSignal
from jaxgan.validation import ConfigError, check_schema, validate_config, validate_for_data
from jaxgan.workdir_lock import WorkdirLock


def _mesh(k: int, batch_size: int) -> Mesh:
  """Devices (variant, data): variants spread over the devices, the batch over the rest."""
  n = jax.device_count()
  v = math.gcd(k, n)
  d = math.gcd(batch_size, n // v)
  return Mesh(np.asarray(jax.devices()[:v * d]).reshape(v, d), ("variant", "data"))


def _place(tree, mesh: Mesh, batch: bool = False):
  """Leading axis over 'variant' (and a batch's example axis over 'data'); scalars replicated."""
  def put(x):
    spec = P() if x.ndim == 0 else (P("variant", None, "data") if batch and x.ndim >= 3
                                    else P("variant"))
    sharding = NamedSharding(mesh, spec)
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      return jax.random.wrap_key_data(jax.device_put(jax.random.key_data(x), sharding),
                                      impl=jax.random.key_impl(x))
    return jax.device_put(x, sharding)
  return jax.tree.map(put, tree)


class _Writer:
  """metrics.jsonl rows (variant index and setting included) and TensorBoard per variant."""

  def __init__(self, workdir: pathlib.Path, variants: Sequence[Variant]):
    self._jsonl = open(workdir / "metrics.jsonl", "a")
    self._tb = {v.index: SummaryWriter(str(workdir / "tensorboard" / f"variant_{v.index:03d}"),
                                       flush_secs=10) for v in variants}
    self._variants = variants

  def write(self, step: int, rows: dict[int, dict]) -> None:
    for v in self._variants:
      row = {"step": step, "variant": v.index, **v.setting, **rows[v.index]}
      self._jsonl.write(json.dumps(row) + "\n")
      for name, value in rows[v.index].items():
        if isinstance(value, (int, float)) and math.isfinite(value):
          self._tb[v.index].add_scalar(name, value, step)
    self._jsonl.flush()

  def close(self) -> None:
    self._jsonl.close()
    for tb in self._tb.values():
      tb.close()


def _data(config, variants: Sequence[Variant], mesh: Mesh):
  d, seeds = config.data, [int(v.config.seed) for v in variants]
  sharding = NamedSharding(mesh, P("variant", None, "data"))
  if d.name in toy.DATASETS:
    return (program.ToyBatches(d.name, seeds, d.batch_size, config.train.n_critic, sharding),
            toy.data_shape(d.name), 0, None)
  dataset = image_data.load(d.name, d.path, d.split, d.data_dir or None, d.image_size or None)
  return (program.ImageBatchesPerVariant(dataset, seeds, d.batch_size, config.train.n_critic,
                                         sharding), dataset.shape, dataset.num_classes, dataset)


def _evaluate(config, sweep: program.SweepState, variants, shape, num_classes,
              png: pathlib.Path | None) -> dict[int, dict]:
  """Toy data: mode coverage per variant; a figure with a panel per variant."""
  key = jax.random.fold_in(jax.random.key(config.seed), 2)
  name = config.data.name
  out: dict[int, dict] = {v.index: {} for v in variants}
  if len(shape) == 3:  # Images: a 4x4 grid of samples per variant.
    fakes = np.asarray(program.sample_all(sweep, key, 16, jnp.arange(16) % num_classes
                                          if config.model.conditional_g else None))
    if png is not None:
      plotting.save_panels(png, [plotting.image_grid(f, 4) for f in fakes],
                           [v.label() for v in variants])
    return out
  fakes = np.asarray(program.sample_all(sweep, key, config.train.eval_samples))
  if name in ("8gaussians", "25gaussians"):
    for v, fake in zip(variants, fakes):
      cov = mode_coverage(fake, toy.mode_centers(name), toy.mode_std(name))
      out[v.index] = {"modes": cov["modes"], "high_quality": cov["high_quality"]}
  if png is not None:
    real = np.asarray(toy.sample(name, jax.random.key(7), config.train.eval_samples))
    critics = [lambda x, i=i: on_copies(program.variant_state(sweep, i).d, jnp.asarray(x))
               for i in range(len(variants))]
    titles = [f"{v.label()}" + (f": {out[v.index]['modes']} modes" if out[v.index] else "")
              for v in variants]
    plotting.save_toy_panels(png, real, fakes, critics, titles)
  return out


def _host_rows(metrics: dict[str, jax.Array], variants) -> dict[int, dict]:
  values = {k: np.asarray(v) for k, v in jax.device_get(metrics).items()}
  return {v.index: {k: float(a[i]) for k, a in values.items()} for i, v in enumerate(variants)}


def _validate(grid: Grid) -> None:
  check_schema(grid.variants[0].config)
  for v in grid.variants:
    try:
      validate_config(v.config, jax.device_count())
    except ConfigError as e:
      raise ConfigError(f"variant {v.index} ({v.label()}): {e}") from None


def _describe(grid: Grid, workdir: pathlib.Path, config) -> None:
  groups = {v.index: g for g, members in enumerate(grid.groups) for v in members}
  description = {
      "axes": [{"field": a.field, "values": list(a.values), "numeric": a.numeric}
               for a in grid.axes],
      "variants": [{"index": v.index, "group": groups[v.index], "setting": v.setting}
                   for v in grid.variants]}
  sweep_file = workdir / "sweep.json"
  if sweep_file.exists() and resume.read_json(sweep_file) != description:
    raise SweepError(f"{workdir} holds another sweep (sweep.json differs); use another "
                     "--workdir, or the same axes to resume")
  saved = workdir / "config.json"
  if saved.exists() and (workdir / "checkpoints").exists():
    changed = [c for c in resume.changes(resume.read_json(saved), config)
               if not resume.is_free(c.field)]
    if changed:  # A sweep's variants keep their numbers: nothing may change on a resume.
      raise ConfigError(f"the sweep in {workdir} was trained with another base config ("
                        + ", ".join(c.short() for c in changed) + "); resume with the saved "
                        "values, or use another --workdir")
  sweep_file.write_text(json.dumps(description, indent=1))
  (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))


def _record_data(workdir: pathlib.Path, g: int, shape, num_classes: int) -> None:
  """data.json: each group's example shape and classes (what restoring a variant needs)."""
  path = workdir / "data.json"
  data = json.loads(path.read_text()) if path.exists() else {}
  data[str(g)] = {"shape": list(shape), "num_classes": num_classes}
  path.write_text(json.dumps(data))


def _run_group(g: int, group: Sequence[Variant], workdir: pathlib.Path, bar, stop,
               writer: _Writer, t0: float, prefix: str = "", hooks=()) -> dict[int, dict]:
  """Trains (or resumes) one group; returns its variants' final metrics.

  ``prefix`` starts the names of its pictures (one per group when there are several).
  """
  config = group[0].config
  t = config.train
  mesh = _mesh(len(group), config.data.batch_size)
  data, shape, num_classes, dataset = _data(config, group, mesh)
  validate_for_data(config, shape, num_classes)
  _record_data(workdir, g, shape, num_classes)
  init, args = program.initializer(group, shape, num_classes)
  step = jax.jit(program.make_sweep_step(config), donate_argnums=0,
                 compiler_options=xla_cpu.options())
  abstract = jax.eval_shape(init, *args)
  batch0 = data.batch(0)
  compiled = step.lower(abstract, batch0).compile()
  program.check_fits(len(group), program.program_bytes(compiled), program.available_bytes(),
                     mesh.devices.size)
  sweep = _place(jax.jit(init)(*args), mesh)
  evaluator = training_eval.make_evaluator(
      config, None if dataset is None else dataset.images, num_classes)
  eval_key = jax.random.fold_in(jax.random.fold_in(jax.random.key(config.seed), 2), 1)
  manager = checkpoint.make_manager(workdir / "checkpoints" / f"group_{g}", t.keep_checkpoints)
  try:
    sweep, unreadable = checkpoint.restore_with_fallback(manager, sweep)
    checkpoint.set_aside(manager, unreadable)
    start = int(sweep.step)
    if start > t.steps:
      raise ConfigError(f"config.train.steps={t.steps} is below the step of group {g}'s "
                        f"checkpoint ({start}); raise it to go on, or use another --workdir")
    bar.update(start)
    rows: dict[int, dict] = {}
    for s in range(start, t.steps):
      sweep, metrics = compiled(sweep, batch0 if s == 0 else data.batch(s))
      done = s + 1
      for hook in hooks:
        hook(g, done, sweep, metrics)
      last = done == t.steps
      log, plot = done % t.log_every == 0, done % t.plot_every == 0 or last
      scored = evaluator is not None and (done % t.eval_every == 0 or last)
      save = done % t.checkpoint_every == 0 or last or stop.signum is not None
      if log or plot or scored:
        rows = _host_rows(metrics, group)
        if plot:
          png = workdir / (f"{prefix}samples_final.png" if last else
                           f"{prefix}samples_{done:06d}.png")
          for i, r in _evaluate(config, sweep, group, shape, num_classes, png).items():
            rows[i].update(r)
        if scored:  # The same latent vectors for every variant and step.
          for i, v in enumerate(group):
            rows[v.index].update(evaluator(program.variant_state(sweep, i), eval_key))
        for r in rows.values():
          r["elapsed_s"] = round(time.time() - t0, 3)
        writer.write(done, rows)
      if save:
        checkpoint.save(manager, done, sweep)
      bar.update(1)
      if stop.signum is not None:
        manager.wait_until_finished()
        raise TrainingInterrupted(stop.signum, done)
    if start >= t.steps:
      rows = {i: r for i, r in _evaluate(config, sweep, group, shape, num_classes, None).items()}
  finally:
    manager.wait_until_finished()
    manager.close()
  diverged = np.asarray(sweep.diverged_at)
  for i, v in enumerate(group):
    rows.setdefault(v.index, {})["diverged_at"] = int(diverged[i])
  return rows


def run_sweep(config: ml_collections.ConfigDict, workdir: str, axes: Sequence[str | Axis],
              hooks: Sequence = ()) -> dict[str, Any]:
  """Trains every variant of the grid over ``config``; returns the summary.

  Args:
    config: the base config (schema ``jaxgan.config.get_config()``).
    workdir: where the sweep's files go; a rerun with the same axes resumes.
    axes: ``'field=values'`` strings (see ``jaxgan.sweep.grid``) or ``Axis`` objects.
    hooks: ``hook(group, step, sweep_state, metrics)`` after each step of each group,
      before the step is logged or checkpointed.

  Returns:
    {'variants': {index: final metrics}, 'diverged': {index: step}, 'rows': summary rows}.
  """
  if jax.process_count() > 1:
    raise SweepError("sweeps run on the devices of one host; start one sweep per host")
  grid = make_grid(config, axes)
  _validate(grid)
  if not str(workdir).strip():
    raise ConfigError("--workdir is empty: name the sweep's directory")
  path = pathlib.Path(workdir)
  path.mkdir(parents=True, exist_ok=True)
  with WorkdirLock(path):
    return _sweep(grid, path, config, hooks)


def _sweep(grid: Grid, path: pathlib.Path, config, hooks) -> dict[str, Any]:
  """The body of ``run_sweep``, with the workdir locked."""
  _describe(grid, path, config)
  final: dict[int, dict] = {}
  t0 = time.time()
  writer = _Writer(path, grid.variants)
  total = len(grid.groups) * config.train.steps
  try:
    with _StopOnSignal() as stop, tqdm(total=total, desc=f"sweep of {len(grid.variants)}",
                                        unit="step", mininterval=1.0) as bar:
      for g, group in enumerate(grid.groups):
        bar.set_postfix_str(f"group {g + 1}/{len(grid.groups)}: {len(group)} variants")
        prefix = f"group{g}_" if len(grid.groups) > 1 else ""
        final.update(_run_group(g, group, path, bar, stop, writer, t0, prefix, hooks))
  finally:
    writer.close()
  return _write_summary(grid, path, final, time.time() - t0)


def _write_summary(grid: Grid, path: pathlib.Path, final: dict[int, dict],
                   seconds: float) -> dict[str, Any]:
  diverged = {i: r["diverged_at"] for i, r in final.items() if r.get("diverged_at", -1) >= 0}
  rows = summary.summarize(grid.axes, grid.variants, final, diverged)
  summary.write_csv(rows, path / "summary.csv")
  text = summary.write_markdown(rows, grid.variants, diverged, path / "summary.md")
  summary.plot_against_axes(rows, grid.numeric_axes, path / "summary.png")
  result = {"variants": {str(i): r for i, r in final.items()}, "diverged": diverged,
            "rows": rows, "seconds": round(seconds, 3)}
  (path / "summary.json").write_text(json.dumps(result, indent=1))
  print(text + f"\nSweep of {len(grid.variants)} variants in {len(grid.groups)} program(s), "
        f"{seconds:.1f} s; files in {path}")
  return result
