"""Data parallelism on 8 simulated CPU devices (own process: XLA_FLAGS must come first)."""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import json, jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    from jaxgan import parallel
    from jaxgan.nets.dcgan import DCGANDiscriminator, DCGANGenerator
    from jaxgan.hparams import make_hparams
    from jaxgan.optimizers import make_optimizer
    from jaxgan.train_state import create_state
    from jaxgan.train_step import StepConfig, make_train_step

    assert jax.device_count() == 8, jax.devices()
    cfg = StepConfig(game="non_saturating", n_critic=2)
    tx = make_optimizer("sgd", 0.1)  # Linear in the gradients: no amplified rounding.
    traces = []
    def counted(state, batch):
      traces.append(1)
      return make_train_step(cfg)(state, batch)

    out = {}
    for dtype in (jnp.float32, jnp.float64):
      # Batch norm in both players: its statistics are those of the global batch.
      G = DCGANGenerator(28, 1, features=8, dtype=dtype)
      D = DCGANDiscriminator(28, features=8, dtype=dtype)
      batch = jnp.tanh(jax.random.normal(jax.random.key(1), (2, 32, 28, 28, 1), dtype))
      results = {}
      for n in (1, 8):
        mesh = parallel.make_mesh(jax.devices()[:n])
        step = jax.jit(counted)
        state = create_state(jax.random.key(0), G, D, tx, tx, 16, (28, 28, 1),
                             hparams=make_hparams(real_label_smoothing=0.1))
        state = jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating)
                             else a, state)
        state = parallel.replicate(state, mesh)
        x = jax.device_put(batch, parallel.batch_sharding(mesh))
        first, metrics = step(state, x)
        for i in range(1, 3):  # More steps on the same shapes: no new trace.
          state, metrics = step(first if i == 1 else state, x + 0.01 * i)
        results[n] = (first, metrics, x.sharding)
      leaves = lambda s: [np.asarray(v) for v in jax.tree.leaves(
          (s.g.params, s.d.params, s.g.batch_stats, s.d.batch_stats))]
      assert all(a.dtype == dtype for a in leaves(results[1][0]))
      out[jnp.dtype(dtype).name] = max(
          float(np.max(np.abs(a - b)) / (np.max(np.abs(a)) + 1e-30))
          for a, b in zip(leaves(results[1][0]), leaves(results[8][0])))
    print(json.dumps({"max_rel_err": out, "traces": len(traces),
                      "shards": len(results[8][2].device_set),
                      "param_devices": len(jax.tree.leaves(results[8][0].g.params)[0].sharding.device_set)}))
''')


def test_eight_devices_match_one_device_and_compile_once():
  from devices import run_on_cpu_devices
  out = run_on_cpu_devices(SCRIPT, 8)
  # Same global batch, same math; only the order of the reductions differs: in float64
  # the two agree to rounding, in float32 to what the batch-norm statistics amplify it to.
  assert out["max_rel_err"]["float64"] < 1e-11, out
  assert out["max_rel_err"]["float32"] < 1e-4, out
  assert out["traces"] == 4  # Once per mesh and dtype, not once per step.
  assert out["shards"] == 8 and out["param_devices"] == 8  # Batch sharded, state replicated.


HOST_SCRIPT = textwrap.dedent('''
    import json, sys, jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    from jaxgan import parallel
    if len(sys.argv) > 1:  # One of two hosts.
      parallel.initialize_distributed(sys.argv[1], 2, int(sys.argv[2]))
    import numpy as np
    from jaxgan.data.images import ImageDataset
    from jaxgan.data.source import ImageSource
    from jaxgan.nets import make_models
    from jaxgan.optimizers import make_optimizer
    from jaxgan.train_state import create_state
    from jaxgan.train_step import StepConfig, make_train_step

    rng = np.random.default_rng(0)
    data = ImageDataset(rng.integers(0, 256, (64, 28, 28, 1), dtype=np.uint8), None, 0)
    mesh = parallel.make_mesh()
    source = ImageSource(data, batch_size=16, n_critic=1, seed=0,
                         sharding=parallel.batch_sharding(mesh))
    G, D = make_models("dcgan", (28, 28, 1), features=4)
    tx = make_optimizer("sgd", 0.1)
    state = parallel.replicate(create_state(jax.random.key(0), G, D, tx, tx, 8,
                                            (28, 28, 1)), mesh)
    step = jax.jit(make_train_step(StepConfig(game="non_saturating")))
    for s in range(2):
      state, _ = step(state, source.batch(s))
    kernel = state.d.params["Conv_0"]["kernel"]
    print(json.dumps({"hosts": jax.process_count(), "devices": jax.device_count(),
                      "kernel": np.asarray(jax.experimental.multihost_utils.process_allgather(
                          kernel, tiled=True) if len(sys.argv) > 1 else kernel).ravel().tolist()}))
''')


def test_two_hosts_match_one_host():
  import socket
  import numpy as np
  with socket.socket() as sock:
    sock.bind(("localhost", 0))
    port = sock.getsockname()[1]
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
  cmd = [sys.executable, "-c", "import jax.experimental.multihost_utils\n" + HOST_SCRIPT]
  hosts = [subprocess.Popen(cmd + [f"localhost:{port}", str(i)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
  single = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
  outs = [h.communicate(timeout=600) for h in hosts]
  assert single.returncode == 0, single.stderr[-2000:]
  for h, (out, err) in zip(hosts, outs):
    assert h.returncode == 0, err[-3000:]
  one = json.loads(single.stdout.strip().splitlines()[-1])
  two = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
  assert one["hosts"] == 1 and all(t["hosts"] == 2 and t["devices"] == 2 for t in two)
  np.testing.assert_allclose(two[0]["kernel"], one["kernel"], rtol=1e-5, atol=1e-7)
  np.testing.assert_array_equal(two[0]["kernel"], two[1]["kernel"])
