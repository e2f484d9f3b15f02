"""Sweep specifications: the grid is the product of the axes, split by structure; bad specs
are one-line errors naming the axis."""

import pytest

from jaxgan import config as config_lib
from jaxgan.sweep.grid import Axis, SweepError, make_grid, parse_axis


def test_axes_parse_ranges_lists_and_types():
  assert parse_axis("seed=0:4") == Axis("seed", (0, 1, 2, 3))
  assert parse_axis("seed=2:9:3") == Axis("seed", (2, 5, 8))
  assert parse_axis("seed=1,5") == Axis("seed", (1, 5))
  assert parse_axis("penalty.weight=0.1,1,10") == Axis("penalty.weight", (0.1, 1.0, 10.0))
  assert parse_axis("train.n_critic=1,5") == Axis("train.n_critic", (1, 5))
  assert parse_axis("loss.game=wasserstein,hinge").values == ("wasserstein", "hinge")
  assert parse_axis("loss.feature_matching=true,false").values == (True, False)
  assert parse_axis("penalty.weight=0.1,1").numeric and not parse_axis("train.n_critic=1").numeric


@pytest.mark.parametrize("spec,needles", [
    ("penalty.wieght=1,2", ["penalty.wieght", "unknown"]),
    ("penalty.weight=", ["penalty.weight", "empty"]),
    ("penalty.weight=0.1,,1", ["penalty.weight", "empty value"]),
    ("penalty.weight=0.1,ten", ["penalty.weight", "'ten'", "number"]),
    ("penalty.weight=nan", ["penalty.weight", "finite"]),
    ("train.n_critic=1:5", ["train.n_critic", "seed only"]),
    ("model.width=16:64", ["model.width", "seed only"]),
    ("train.n_critic=1,2.5", ["train.n_critic", "'2.5'", "integer"]),
    ("seed=3:3", ["seed", "empty"]),
    ("seed=a:b", ["seed", "integers"]),
    ("penalty=1", ["penalty", "group"]),
    ("noequals", ["noequals", "field=value"]),
    ("loss.alpha=0.1", ["loss.alpha", "renamed"]),
    ("penalty.weight=1,1", ["penalty.weight", "repeated"]),
])
def test_bad_specs_are_one_line_errors_naming_the_axis(spec, needles):
  with pytest.raises(SweepError) as info:
    parse_axis(spec)
  message = str(info.value)
  assert "\n" not in message
  for needle in needles:
    assert needle in message, (needle, message)


def test_grid_is_the_product_and_structure_splits_it_into_groups():
  base = config_lib.get_config()
  grid = make_grid(base, ["loss.game=wasserstein,hinge", "penalty.weight=0.1,10", "seed=0:3"])
  assert len(grid.variants) == 12
  assert grid.variants[0].setting == {"loss.game": "wasserstein", "penalty.weight": 0.1, "seed": 0}
  assert grid.variants[1].setting["seed"] == 1  # The last axis varies fastest.
  assert grid.variants[11].config.loss.game == "hinge"
  assert grid.variants[11].config.penalty.weight == 10.0 and grid.variants[11].config.seed == 2
  assert base.penalty.weight == 0.1 and base.seed == 0  # The base config is not touched.
  groups = grid.groups
  assert [len(g) for g in groups] == [6, 6]  # One program per game; numbers inside it.
  assert {v.config.loss.game for v in groups[0]} == {"wasserstein"}
  assert [a.field for a in grid.numeric_axes] == ["penalty.weight"]


def test_turning_clipping_or_ema_on_is_structure_but_their_values_are_not():
  grid = make_grid(config_lib.get_config(), ["penalty.weight_clip=0,0.01,0.1"])
  assert [len(g) for g in grid.groups] == [1, 2]
  grid = make_grid(config_lib.get_config(), ["train.ema_decay=0.9,0.99"])
  assert [len(g) for g in grid.groups] == [2]


def test_an_axis_given_twice_is_refused():
  with pytest.raises(SweepError, match="seed: given twice"):
    make_grid(config_lib.get_config(), ["seed=0:2", "seed=3,4"])
