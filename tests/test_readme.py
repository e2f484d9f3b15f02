"""The README's code runs as written: the custom game, penalty and plain Flax modules."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _python_block_after(heading: str) -> str:
  text = README.read_text()
  section = text[text.index(heading):]
  return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_custom_game_penalty_and_plain_modules_train():
  namespace: dict = {}
  exec(compile(_python_block_after("## Your own game, penalty and nets"), "README.md", "exec"),
       namespace)
  before, after = namespace["cov_before"], namespace["cov_after"]
  # Untrained, G puts nothing on the ring; trained, it reaches every one of the 8 modes
  # and most of its samples moved from nowhere to within 3 std of one.
  assert before["modes"] == 0 and after["modes"] == 8
  assert after["high_quality"] > before["high_quality"] + 0.1
  assert namespace["state"].d.interface.input_shape == (2,)
  assert not namespace["state"].g.interface.train  # A plain module: no flags passed.
