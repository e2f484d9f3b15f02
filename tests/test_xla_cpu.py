"""jaxgan.xla_cpu: the Inception forward compiles its convolutions outside YNNPACK."""

import logging
import re

import jax
import jax.numpy as jnp
import pytest

from jaxgan import xla_cpu
from jaxgan.metrics import evaluate
from jaxgan.nets import inception


def _ynn_convolutions(hlo: str) -> int:
  return sum(1 for line in hlo.splitlines()
             if '"__ynn_fusion"' in line and re.search(r"conv_general_dilated", line))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="an XLA:CPU option")
def test_inception_convolutions_are_not_ynn_fusions():
  variables = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), inception.variable_shapes())
  images = jnp.zeros((1, 80, 80, 3), jnp.uint8)
  ours = evaluate._compiled_inception().lower(variables, images, "highest", "pytorch")
  plain = jax.jit(evaluate._compiled_inception().__wrapped__, static_argnums=(2, 3))
  default = plain.lower(variables, images, "highest", "pytorch").compile().as_text()
  if xla_cpu.options() is None or not _ynn_convolutions(default):
    pytest.skip("this XLA does not hand convolutions to YNNPACK")
  assert _ynn_convolutions(ours.compile().as_text()) == 0


def test_an_option_this_xla_does_not_know_gives_none_and_a_log_line(monkeypatch, caplog):
  monkeypatch.setattr(xla_cpu, "CONVOLUTIONS_OFF_YNN", {"xla_no_such_option_anywhere": "1"})
  xla_cpu.options.cache_clear()
  try:
    with caplog.at_level(logging.INFO, logger="jaxgan.xla_cpu"):
      assert xla_cpu.options() is None
    assert "not accepted by this jax" in caplog.text
  finally:
    xla_cpu.options.cache_clear()
