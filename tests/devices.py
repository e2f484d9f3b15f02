"""Running a test script on N simulated CPU devices (XLA_FLAGS must be set before JAX starts)."""

import json
import os
import subprocess
import sys


def run_on_cpu_devices(script: str, count: int, timeout: int = 600) -> dict:
  """Runs ``script`` with ``count`` CPU devices in its own process; returns the JSON object
  it printed last (asserting the process succeeded)."""
  env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={count}",
         "JAX_PLATFORMS": "cpu"}
  run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=timeout, env=env)
  assert run.returncode == 0, run.stderr[-3000:]
  return json.loads(run.stdout.strip().splitlines()[-1])
