"""metrics.jsonl that a full disk or a killed process left with a bad line (issue 18.2)."""

import json

from jaxgan import plotting
from jaxgan.metric_writer import MetricWriter, read_metrics


def test_bad_lines_are_skipped_with_one_warning_each(tmp_path, caplog):
  path = tmp_path / "metrics.jsonl"
  path.write_text('{"step": 1, "d_loss": 1.0}\n'
                  '{"step": 2, "d_lo\n'          # Torn.
                  '[1, 2]\n'                     # JSON, not a row.
                  '{"d_loss": 3.0}\n'            # No step.
                  '{"step": 2, "d_loss": 2.0}\n'
                  '\x00\x00\x00\n')              # A block of zeros after a crash.
  assert read_metrics(path) == [{"step": 1, "d_loss": 1.0}, {"step": 2, "d_loss": 2.0}]
  warned = [r.getMessage() for r in caplog.records]
  assert [w.split(":")[0] for w in warned] == [f"{path}, line {n}" for n in (2, 3, 4, 6)]
  read_metrics(path)  # The same lines again: no new warnings.
  assert len(caplog.records) == len(warned)


def test_rows_of_one_step_are_merged_later_values_winning(tmp_path):
  path = tmp_path / "metrics.jsonl"
  path.write_text('{"step": 4, "d_loss": 1.0, "modes": 3}\n'
                  '{"step": 4, "config_change": {"seed": {"from": 0, "to": 1}}}\n'
                  '{"step": 4, "d_loss": 2.0}\n')
  assert read_metrics(path) == [{"step": 4, "d_loss": 2.0, "modes": 3,
                                 "config_change": {"seed": {"from": 0, "to": 1}}}]


def test_writing_after_a_torn_line_starts_a_new_line(tmp_path):
  (tmp_path / "metrics.jsonl").write_text('{"step": 1, "d_loss": 1.0}\n{"step": 2, "d_')
  writer = MetricWriter(tmp_path)
  writer.write(3, {"d_loss": 3.0})
  writer.close()
  lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
  assert lines[1] == '{"step": 2, "d_' and json.loads(lines[2]) == {"step": 3, "d_loss": 3.0}


def test_plot_curves_draws_past_a_bad_line_and_odd_values(tmp_path):
  path = tmp_path / "metrics.jsonl"
  path.write_text('{"step": 1, "d_loss": 1.0, "g_loss": 0.5}\n{"step": 2, "d_l\n'
                  '{"step": 3, "d_loss": null, "g_loss": "x", "modes": true}\n'
                  '{"step": 4, "d_loss": 0.5, "g_loss": 0.25}\n')
  plotting.plot_curves(path, tmp_path / "losses.png")
  assert (tmp_path / "losses.png").read_bytes()[:4] == b"\x89PNG"


def test_pictures_go_to_tensorboard_as_images(tmp_path, caplog):
  import numpy as np
  from PIL import Image
  pixels = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
  Image.fromarray(pixels).save(tmp_path / "samples.png")
  writer = MetricWriter(tmp_path)
  writer.write_image(3, "samples", tmp_path / "samples.png")
  writer.write_image(4, "samples", tmp_path / "missing.png")  # Warned about, not raised.
  writer.close()
  (events,) = (tmp_path / "tensorboard").glob("events.out.tfevents.*")
  data = events.read_bytes()
  assert b"samples" in data and b"\x89PNG" in data  # An image summary: a PNG under the tag.
  png = data[data.index(b"\x89PNG"):]
  import io
  assert np.array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), pixels)
  assert any("missing.png not sent to TensorBoard" in r.getMessage() for r in caplog.records)
