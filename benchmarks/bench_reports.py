"""Time the report run on the demo data, with the floor measured beside it.

The floor is the same runner on notebooks that hold only their parameters cell and the import of
clc_lib: kernel start-up, papermill and HTML rendering, without any analysis. Both runs publish
into a temporary folder, so ``reports/`` is left alone.

    .venv/bin/python benchmarks/bench_reports.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from clc_lib.paths import demo_config_path, notebooks_dir
from clc_lib.report import report_notebooks, run_report
from machine import describe_machine  # benchmarks/machine.py


def _floor_notebooks(folder: Path) -> Path:
    """Copies of the report notebooks reduced to the parameters cell and the set-up import."""
    folder.mkdir()
    for source in report_notebooks(notebooks_dir()):
        notebook = nbformat.read(source, as_version=4)
        parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
        notebook.cells = [parameters, nbformat.v4.new_code_cell("import clc_lib as clc")]
        nbformat.write(notebook, folder / source.name)
    return folder


def _timed(label: str, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    run = run_report(demo_config_path(), echo=None, **kwargs)
    wall = time.perf_counter() - started
    if not run.ok:
        sys.exit(f"{label}: the run failed: {[(n.name, n.error) for n in run.notebooks if n.error]}")
    return wall, run


def main() -> None:
    if not demo_config_path().is_file():
        sys.exit("Write the demo data first: .venv/bin/clc demo-data")
    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        floor_wall, floor = _timed("floor", out=scratch_path / "floor",
                                   notebooks_dir=_floor_notebooks(scratch_path / "notebooks"))
        full_wall, full = _timed("full", out=scratch_path / "full")
    print(f"machine: {describe_machine('papermill', 'nbconvert')}; demo data: {demo_config_path().parent}")
    print(f"{'notebook':<18}{'execute (s)':>12}{'render (s)':>12}{'floor exec (s)':>16}{'floor render (s)':>18}")
    floors = {n.name: n for n in floor.notebooks}
    for result in full.notebooks:
        base = floors[result.name]
        print(f"{result.name:<18}{result.seconds:>12.1f}{result.render_seconds:>12.1f}"
              f"{base.seconds:>16.1f}{base.render_seconds:>18.1f}")
    print(f"whole run (wall): {full_wall:.1f} s; floor run (wall): {floor_wall:.1f} s; "
          f"notebooks run {os.cpu_count()} at a time")


if __name__ == "__main__":
    main()
