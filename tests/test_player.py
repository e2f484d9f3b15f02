"""Any Flax module plays: what a module declares is found once, and the step asks only for that."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan.hparams import make_hparams
from jaxgan.nets import make_models
from jaxgan.player import Interface, generate, per_example
from jaxgan.train_state import create_state
from jaxgan.train_step import StepConfig, make_train_step


class PlainG(nn.Module):
  @nn.compact
  def __call__(self, z):
    return nn.Dense(2)(nn.relu(nn.Dense(8)(z)))


class PlainD(nn.Module):
  out: int = 1

  @nn.compact
  def __call__(self, x):
    return nn.Dense(self.out)(nn.relu(nn.Dense(8)(x)))


class TrainFlagD(nn.Module):
  """Records the train flag it was called with (as a sown intermediate)."""

  @nn.compact
  def __call__(self, x, train: bool = True):
    self.sow("intermediates", "train", jnp.asarray(train))
    return nn.Dense(1)(x)[:, 0]


def _state(g=PlainG(), d=PlainD(), classes=0, **kwargs):
  tx = optax.sgd(0.1)
  return create_state(jax.random.key(0), g, d, tx, tx, 3, (2,), classes, **kwargs)


def test_plain_modules_train_and_the_interface_says_what_they_accept():
  state = _state()
  assert state.g.interface == Interface(input_shape=(3,))
  assert state.d.interface == Interface(input_shape=(2,))
  step = jax.jit(make_train_step(StepConfig(game="non_saturating", penalty="r1")))
  batch = jax.random.normal(jax.random.key(1), (1, 8, 2))
  new, metrics = step(state.replace(hparams=make_hparams(penalty_weight=1.0)), batch)
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert float(metrics["d_penalty"]) > 0
  moved = [float(jnp.max(jnp.abs(a - b))) for a, b in
           zip(jax.tree.leaves(new.d.params), jax.tree.leaves(state.d.params))]
  assert max(moved) > 0


def test_library_nets_declare_every_argument():
  G, D = make_models("mlp", (2,), width=8, depth=1, num_classes=3, conditional_g=True,
                     d_conditioning="projection", aux_classifier=True)
  state = _state(G, D, classes=3)
  assert state.g.interface.labels and state.g.interface.train and state.g.interface.num_classes == 3
  assert state.d.interface.with_aux and state.d.interface.aux_outputs == ("class_logits",
                                                                         "features")
  unconditional, _ = make_models("mlp", (2,), width=8, depth=1)
  # Declares labels, but has no classes: it is not given any.
  assert not _state(unconditional, D, classes=3).g.interface.labels


def test_train_flag_is_passed_only_to_modules_that_declare_it():
  state = _state(d=TrainFlagD())
  assert state.d.interface.train
  variables = {"params": state.d.params}
  x = jnp.zeros((4, 2))
  kwargs = state.d.interface.kwargs(None, train=False, with_aux=False)
  _, seen = state.d.apply_fn(variables, x, mutable=["intermediates"], **kwargs)
  assert not bool(seen["intermediates"]["train"][0])
  assert state.g.interface.kwargs(jnp.zeros(4, jnp.int32), True, True) == {}


def test_acgan_without_a_class_head_is_a_named_error():
  state = _state()
  with pytest.raises(ValueError, match="class head.*auxiliary outputs: none"):
    make_train_step(StepConfig(acgan=True))(state, {"image": jnp.zeros((1, 4, 2)),
                                                    "label": jnp.zeros((1, 4), jnp.int32)})


def test_feature_matching_without_features_is_a_named_error():
  with pytest.raises(ValueError, match="'features'"):
    make_train_step(StepConfig(feature_matching=True))(_state(), jnp.zeros((1, 4, 2)))


def test_discriminator_with_more_than_one_output_per_example_is_refused_at_creation():
  with pytest.raises(ValueError, match=r"PlainD must return one value per example.*\(2, 3\)"):
    _state(d=PlainD(out=3))


def test_conditional_generator_needs_labelled_data():
  G, _ = make_models("mlp", (2,), width=8, depth=1, num_classes=3, conditional_g=True)
  with pytest.raises(ValueError, match="class-conditional.*no labels"):
    _state(G)


def test_per_example_accepts_b_and_b1_only():
  assert per_example(jnp.ones((5, 1)), 5).shape == (5,)
  assert per_example(jnp.ones(5), 5).shape == (5,)
  with pytest.raises(ValueError, match="shape \\(5, 2\\)"):
    per_example(jnp.ones((5, 2)), 5)


def test_generate_draws_standard_normal_latents_from_the_key():
  state = _state()
  x, _ = generate(state.g, jax.random.key(4), 6)
  z = jax.random.normal(jax.random.key(4), (6, 3))
  want = PlainG().apply({"params": state.g.params}, z)
  np.testing.assert_array_equal(x, want)
  np.testing.assert_array_equal(state.sample(jax.random.key(4), 6), want)
