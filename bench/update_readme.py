"""Regenerates README.md's performance section from bench/results/*.json.

    python bench/update_readme.py            # rewrite the section in README.md
    python bench/update_readme.py --check    # exit 1 if the section is out of date
    python bench/update_readme.py --readme OTHER.md --results DIR

The section is what lies between the line holding ``<!-- performance:start`` and the
line holding ``<!-- performance:end -->``; nothing outside those markers is touched.
Results are ``bench/device_check.sh`` reports (``device_check.json``) copied to
``bench/results/<device>-<date>.json``. The newest full-size run on a GPU (by its date)
gives the section: the device, the versions and the table of ``bench/device_report.py``.
Without one the section says that no GPU figure exists and gives the CPU ratios of the
newest CPU run that measured PyTorch (``--small``); with neither, it is left as it is.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys
import textwrap

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import device_report  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
START = re.compile(r"^.*<!-- performance:start.*-->.*$", re.MULTILINE)
END = re.compile(r"^.*<!-- performance:end -->.*$", re.MULTILINE)
GPU_PLATFORMS = ("gpu", "cuda", "rocm")


def load_results(results: pathlib.Path) -> list[tuple[pathlib.Path, dict]]:
  """Every readable device_check report in ``results``, oldest first."""
  found = []
  for path in sorted(results.glob("*.json")):
    try:
      doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
      print(f"skipping {path}: {e}", file=sys.stderr)
      continue
    if isinstance(doc, dict) and "steps" in doc and "device" in doc:
      found.append((path, doc))
  return sorted(found, key=lambda item: (item[1].get("date", ""), item[0].name))


def is_gpu(doc: dict) -> bool:
  return doc["device"].get("platform") in GPU_PLATFORMS and not doc.get("small")


def _rel(path: pathlib.Path, root: pathlib.Path) -> str:
  try:
    return str(path.resolve().relative_to(root.resolve()))
  except ValueError:
    return path.name


def gpu_section(path: pathlib.Path, doc: dict, root: pathlib.Path) -> str:
  rows = device_report.summary_rows(doc)
  steps = ", ".join(f"{name} {step.get('status')}" for name, step in doc["steps"].items()
                    if step.get("status") not in ("ok", "absent"))
  lines = [_wrap(f"Measured on one {doc['device']['name']} on {doc['date'][:10]} "
                 f"({device_report.versions_line(doc)}) by `bash bench/device_check.sh`; the "
                 f"whole report is `{_rel(path, root)}`."), "",
           device_report.markdown_table(rows), ""]
  bullets = device_report.notes(doc)
  if steps:
    bullets.append(f"Steps that did not finish cleanly in that run: {steps}.")
  lines += [_wrap(f"- {n}", indent="  ") for n in bullets]
  return "\n".join(lines)


def _wrap(text: str, indent: str = "") -> str:
  return textwrap.fill(text, width=92, subsequent_indent=indent, break_long_words=False,
                       break_on_hyphens=False)


def _ratio_of(doc: dict, workload: str) -> float | None:
  got = device_report._measurements(doc)
  ours = device_report._ok(got.get((workload, "float32", "jaxgan")))
  theirs = device_report._ok(got.get((workload, "float32", "torch_eager")))
  return theirs / ours if ours and theirs else None


def _inception_ratio(doc: dict) -> float | None:
  fid = (doc["steps"].get("fid_throughput") or {}).get("figures") or {}
  theirs = (fid.get("pytorch_fid") or {}).get("forward img/s")
  jaxgan = fid.get("jaxgan") or {}
  ours = (next(iter(jaxgan.values()), None) or {}).get("forward img/s") if jaxgan else None
  return ours / theirs if ours and theirs else None


def cpu_sentence(path: pathlib.Path, doc: dict, root: pathlib.Path) -> str | None:
  dcgan, wgan, inception = (_ratio_of(doc, "DCGAN-64"), _ratio_of(doc, "WGAN-GP-64"),
                            _inception_ratio(doc))
  if dcgan is None and wgan is None and inception is None:
    return None
  v = doc.get("env", {}).get("versions", {})
  torch = (doc.get("env", {}).get("torch") or {}).get("version") or v.get("torch", "?")
  cores = doc.get("env", {}).get("cpu_count") or "?"
  parts = []
  if dcgan:
    parts.append(f"the DCGAN step runs at {dcgan:.2f}x PyTorch eager")
  if wgan:
    parts.append(f"the WGAN-GP step at {wgan:.2f}x")
  if inception:
    parts.append(f"the Inception forward at {inception:.2f}x pytorch-fid")
  text = ", ".join(parts[:-1]) + (", " if len(parts) > 1 else "") + parts[-1]
  return _wrap(f"No GPU figure of jaxgan exists yet. On a {cores}-core CPU (jax "
               f"{v.get('jax', '?')}, torch {torch}, CPU-sized workloads of `--small`, "
               f"{doc['date'][:10]}, `{_rel(path, root)}`): {text} (> 1: jaxgan faster).")


def section(results: pathlib.Path, root: pathlib.Path) -> tuple[str | None, str]:
  """(new section text or None to keep the current one, what was used)."""
  docs = load_results(results)
  gpu = [(p, d) for p, d in docs if is_gpu(d)]
  if gpu:
    path, doc = gpu[-1]
    return gpu_section(path, doc, root), f"GPU results {path.name}"
  for path, doc in reversed(docs):
    text = cpu_sentence(path, doc, root)
    if text:
      return text, f"no GPU results; CPU results {path.name}"
  return None, "no GPU results and no CPU results with PyTorch figures: section kept"


def replace_section(readme: str, body: str) -> str:
  starts, ends = list(START.finditer(readme)), list(END.finditer(readme))
  if len(starts) != 1 or len(ends) != 1 or ends[0].start() < starts[0].end():
    raise SystemExit("README must hold one '<!-- performance:start ... -->' line followed by "
                     "one '<!-- performance:end -->' line")
  return readme[:starts[0].end()] + "\n" + body.strip("\n") + "\n" + readme[ends[0].start():]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--readme", default=str(REPO / "README.md"))
  parser.add_argument("--results", default=str(REPO / "bench" / "results"))
  parser.add_argument("--check", action="store_true", help="exit 1 if out of date")
  args = parser.parse_args()
  readme_path, results = pathlib.Path(args.readme), pathlib.Path(args.results)
  body, used = section(results, readme_path.parent)
  print(used)
  readme = readme_path.read_text()
  if body is None:
    replace_section(readme, "")  # Still checks the markers.
    return
  new = replace_section(readme, body)
  if args.check:
    if new != readme:
      raise SystemExit(f"{readme_path}: the performance section is out of date; run "
                       "python bench/update_readme.py")
    return
  if new != readme:
    readme_path.write_text(new)
    print(f"updated {readme_path}")
  else:
    print(f"{readme_path} is up to date")


if __name__ == "__main__":
  main()
