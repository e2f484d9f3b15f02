"""Shared pieces of the experiments: compiled training chunks, reports, figures.

Every experiment is a package of three stages, run in turn by ``run_stages``:
``measure.measure(quick, **options) -> results`` (the numbers, and the arrays the
figures need), ``figures.draw(results, out) -> [png names]`` and
``report.write(out, results, figures, seconds, quick)``, whose prose is a
``string.Template`` filled from the results (``render``).

Every experiment trains with the library's own step (``jaxgan.train_step``); what is
shared here is only the driving loop (a ``lax.scan`` over a chunk of steps, data drawn
on the device from ``fold_in(data_key, step)``) and the writing of ``report.md``.
"""

from __future__ import annotations

import math
import os
import pathlib
import re
import string
import time
from typing import Any, Callable, Sequence

import jax
import numpy as np
from tqdm.auto import tqdm

from jaxgan.plotting import plt
from jaxgan.train_state import GANState

Array = jax.Array
DrawReal = Callable[[Array, int], Array]


def slug(text: str) -> str:
  """A file-name stem for a label: lower case, each run of other characters one '_'
  ('GAN + R1, 2x steps' -> 'gan_r1_2x_steps')."""
  return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def mean_se(values: np.ndarray) -> tuple[float, float]:
  """(mean, standard error std / sqrt(n) with ddof 1) of the seeds' values; the error is
  0 for one value, the mean nan for none."""
  se = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
  return (float(values.mean()) if len(values) else math.nan, se)


def out_path(out_dir: str | os.PathLike) -> pathlib.Path:
  """Creates ``out_dir`` (and parents) and returns it as a Path."""
  path = pathlib.Path(out_dir)
  path.mkdir(parents=True, exist_ok=True)
  return path


def pool_sampler(pool: Array) -> DrawReal:
  """Draws n rows of ``pool`` uniformly with replacement (gan_toy.py's fixed data pool).

  The pool is an argument of the compiled function, so data sets of the same shape
  share one compilation.
  """
  def draw(key: Array, n: int) -> Array:
    return pool[jax.random.randint(key, (n,), 0, pool.shape[0])]
  return draw


def make_chunk_runner(step: Callable, n_critic: int, batch_size: int, chunk: int,
                      draw: Callable[[Any, Array, int], Array] | None = None):
  """Compiles ``chunk`` train steps as one ``lax.scan``.

  Returns ``run(state, pool, data_key) -> (state, metrics)`` where each step's real
  batch (n_critic, batch_size, *example_shape) is ``draw(pool, key, n)`` with key
  ``fold_in(data_key, state.step)`` (default: rows of the array ``pool``), and metrics
  are stacked over the chunk.
  """
  draw = draw or (lambda pool, key, n: pool_sampler(pool)(key, n))

  def run(state: GANState, pool: Any, data_key: Array):
    def body(st: GANState, _):
      k = jax.random.fold_in(data_key, st.step)
      real = draw(pool, k, n_critic * batch_size)
      return step(st, real.reshape(n_critic, batch_size, *real.shape[1:]))

    return jax.lax.scan(body, state, None, length=chunk)

  return jax.jit(run, donate_argnums=0)


def train_chunks(run, state: GANState, pool: Array, data_key: Array, steps: int,
                 chunk: int, desc: str = "training",
                 keep_metrics: bool = True) -> tuple[GANState, dict[str, np.ndarray]]:
  """Calls ``run`` (from ``make_chunk_runner``) until ``steps`` steps are done.

  Returns the state and the per-step metrics concatenated (numpy; empty when not
  ``keep_metrics``, which also leaves the calls asynchronous). ``steps`` must be a
  multiple of ``chunk`` so that only one shape is ever compiled. A progress bar named
  ``desc`` goes to stderr.
  """
  if steps % chunk:
    raise ValueError(f"steps={steps} must be a multiple of chunk={chunk}")
  history: list[dict] = []
  with tqdm(total=steps, desc=desc, unit="step", leave=False, mininterval=2.0) as bar:
    for _ in range(steps // chunk):
      state, metrics = run(state, pool, data_key)
      if keep_metrics:
        history.append(jax.device_get(metrics))
      bar.update(chunk)
  merged = {k: np.concatenate([h[k] for h in history]) for k in history[0]} if history else {}
  return state, merged


def train_seeds(config, seeds: int, shape: tuple[int, ...], draw: Callable, data: Any,
                data_seed: int, chunk: int, desc: str = "training"):
  """Trains variants seed = 0 .. ``seeds`` - 1 of ``config`` in one vmapped program
  (``jaxgan.sweep.program``) for ``config.train.steps`` steps, ``chunk`` steps per
  ``lax.scan``; returns the final sweep state.

  Variant i's real examples at step s are ``draw(data, key, n)`` (n, *shape) with key
  ``fold_in(fold_in(key(data_seed), seed_i), s)``, n = n_critic * batch size.
  """
  from jaxgan import xla_cpu
  from jaxgan.sweep import program
  from jaxgan.sweep.grid import make_grid
  group = make_grid(config, [f"seed=0:{seeds}"]).groups[0]
  init, args = program.initializer(group, shape, 0)
  sweep_step = program.make_sweep_step(config)
  n_critic, batch = config.train.n_critic, config.data.batch_size
  data_keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.key(data_seed), s))(args[0])

  def body(s, data, keys):
    one = lambda key: draw(data, jax.random.fold_in(key, s.step),
                           n_critic * batch).reshape(n_critic, batch, *shape)
    return sweep_step(s, jax.vmap(one)(keys))

  def run_chunk(sweep, data, keys):
    # chunk = 1: no loop. Inside XLA:CPU's while loops convolutions' kernel gradients
    # can take a far slower path (the stacked-MNIST nets: 6x), so conv nets use 1.
    if chunk == 1:
      return body(sweep, data, keys)
    return jax.lax.scan(lambda s, _: body(s, data, keys), sweep, None, length=chunk)

  run = jax.jit(run_chunk, donate_argnums=0, compiler_options=xla_cpu.options())
  sweep, _ = train_chunks(run, jax.jit(init)(*args), data, data_keys, config.train.steps,
                          chunk, desc, keep_metrics=False)
  return sweep


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  """A markdown table; floats are written with 4 significant digits."""
  def cell(v):
    text = f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)
    return text.replace("|", "\\|")  # A literal '|' (as in KL(p||q)) would split the cell.
  lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
  lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
  return "\n".join(lines)


def write_report(out_dir: pathlib.Path, title: str, sections: Sequence[str], results: dict,
                 figures: Sequence[str], seconds: float, quick: bool) -> dict:
  """Writes ``report.md``: the title, the run's size and time, then the sections.

  Records ``figures`` and ``seconds`` in ``results`` and returns it.
  """
  size = "quick (CI-sized, not a measurement)" if quick else "full"
  text = [f"# {title}", "", f"Run size: {size}; wall time {seconds:.0f} s on "
          f"{jax.devices()[0].platform.upper()} ({os.cpu_count()} cores visible).", ""]
  text += [s.rstrip() + "\n" for s in sections]
  (out_dir / "report.md").write_text("\n".join(text))
  results["figures"], results["seconds"] = list(figures), seconds
  return results


def render(template: str, **values) -> str:
  """``template`` ($name placeholders, ``string.Template``) filled with ``values``;
  floats are written with 4 significant digits. A missing value raises KeyError."""
  cell = lambda v: f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)
  return string.Template(template).substitute({k: cell(v) for k, v in values.items()})


def run_stages(module, out_dir, quick: bool, **options) -> dict:
  """Runs an experiment package's measure, figures and report stages; returns the results.

  ``module`` is the package (``jaxgan.experiments.<name>``), holding the submodules
  ``measure``, ``figures`` and ``report``; ``options`` go to ``measure.measure``, which
  may take ``out`` too (to cache its runs there).
  """
  import importlib
  timer = Timer()
  out = out_path(out_dir)
  stage = lambda name: importlib.import_module(f"{module.__name__}.{name}")
  measure = stage("measure").measure
  if "out" in measure.__code__.co_varnames[:measure.__code__.co_argcount]:
    options["out"] = out
  results = measure(quick=quick, **options)
  figures = stage("figures").draw(results, out)
  return stage("report").write(out, results, figures, timer(), quick)


def save_figure(fig, path: pathlib.Path) -> str:
  """Saves and closes a matplotlib figure; returns the file name."""
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path.name


def device_description() -> str:
  """The device the numbers were measured on, e.g. 'CPU (2 cores)' or 'gpu: NVIDIA H200'."""
  d = jax.devices()[0]
  if d.platform == "cpu":
    return f"CPU ({os.cpu_count()} cores visible)"
  return f"{d.platform}: {d.device_kind}"


class Timer:
  """Wall-clock seconds since construction."""

  def __init__(self):
    self.start = time.perf_counter()

  def __call__(self) -> float:
    return time.perf_counter() - self.start
