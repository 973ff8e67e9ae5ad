"""The five report notebooks: committed clean, one parameters cell each, and they run (nbval)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
REPORT_NOTEBOOKS = ("01_segmentation", "02_acquisition", "03_monetisation", "04_retention", "05_recovery")
COMMON_PARAMETERS = ("config: str = ", "as_of: str | None = None", "period: str | None = None",
                     "stage_rules: dict | None = None")
PLACEHOLDER_WORDS = ("TODO", "FIXME", "TBD", "XXX", "lorem ipsum")
DEMO_CONFIG = PROJECT_ROOT / "data" / "raw" / "demo" / "run.yaml"


def load(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)


def test_exactly_the_five_report_notebooks_exist():
    assert sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb")) == list(REPORT_NOTEBOOKS)


@pytest.mark.parametrize("name", REPORT_NOTEBOOKS)
def test_notebook_is_valid_and_committed_without_outputs(name):
    notebook = load(name)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} of {name} has outputs"
            assert cell.execution_count is None, f"cell {index} of {name} has an execution count"


@pytest.mark.parametrize("name", REPORT_NOTEBOOKS)
def test_notebook_follows_the_layout(name):
    cells = load(name).cells
    tagged = [i for i, cell in enumerate(cells) if "parameters" in cell.metadata.get("tags", [])]
    assert tagged == [1], f"{name}: the parameters cell must be the second cell and the only one tagged"
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    parameters = cells[1].source
    for line in COMMON_PARAMETERS:
        assert line in parameters, f"{name}: parameters cell lacks {line!r}"
    for statement in parameters.splitlines():  # typed, commented defaults, nothing derived
        assert ":" in statement.split("=")[0] and "  # " in statement, f"{name}: {statement!r}"
    assert "clc.load_run(config, as_of=as_of, period=period, stage_rules=stage_rules)" in cells[2].source
    assert any("clc.show_key_figures(" in cell.source for cell in cells if cell.cell_type == "code")
    assert cells[-2].cell_type == "markdown" and cells[-2].source.startswith("## Data quality")
    assert cells[-1].source.strip() == "clc.show_quality(run)"


@pytest.mark.parametrize("name", REPORT_NOTEBOOKS)
def test_notebook_uses_only_the_public_api_and_has_no_placeholders(name):
    for cell in load(name).cells:
        for word in PLACEHOLDER_WORDS:
            assert word not in cell.source, f"{name}: placeholder {word!r} in {cell.source[:60]!r}"
        if cell.cell_type == "code":
            for line in cell.source.splitlines():
                stripped = line.strip()
                assert not stripped.startswith(("from clc_lib", "import clc_lib.")), f"{name}: {line!r}"
                # clc._ itself is the translation function; clc._name would be a private name
                assert not re.search(r"\bclc\._(?!\()", stripped), f"{name}: private name in {line!r}"


@pytest.mark.slow
def test_notebooks_run_with_nbval_on_the_demo_data():
    if not DEMO_CONFIG.is_file():
        from clc_lib.demo import write_demo_data

        write_demo_data(DEMO_CONFIG.parent)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
         "-q", str(NOTEBOOKS_DIR)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1800,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-2000:]


@pytest.mark.parametrize("name", REPORT_NOTEBOOKS)
def test_every_parameter_is_used_by_the_notebook(name):
    from clc_lib.handoff import declared_parameters

    cells = load(name).cells
    body = "\n".join(cell.source for cell in cells[2:] if cell.cell_type == "code")
    declared = declared_parameters(NOTEBOOKS_DIR / f"{name}.ipynb")
    assert declared[:3] == ["config", "as_of", "period"]
    unused = [parameter for parameter in declared if not re.search(rf"\b{parameter}\b", body)]
    assert unused == [], f"{name}: parameters never read: {unused}"


@pytest.mark.parametrize("name", REPORT_NOTEBOOKS)
def test_parameters_speak_of_the_configured_time_unit_not_weeks(name):
    cells = load(name).cells
    assert "horizon_weeks" not in cells[1].source
    for cell in cells:
        assert "} weeks" not in cell.source, f"{name}: a caption fixes the unit to weeks: {cell.source[:80]!r}"


def test_the_runner_passes_the_configs_period_and_horizon_to_the_notebooks_that_declare_them(tmp_path):
    from clc_lib.report import _Task, notebook_parameters

    config = tmp_path / "run.yaml"
    config.write_text("name: shop\nperiod: W\ntransactions: {path: t.csv}\nclv: {time_unit: M, horizon: 12}\n")

    def passed(name: str) -> dict:
        task = _Task(source=NOTEBOOKS_DIR / f"{name}.ipynb", executed=tmp_path / "x.ipynb", log=tmp_path / "x.log",
                     config=config, as_of="2024-06-30", cwd=tmp_path, cell_timeout=None, start_timeout=60,
                     pseudonymise_ids=False, run_cache=tmp_path / "cache")
        return notebook_parameters(task)

    common = {"config": str(config), "as_of": "2024-06-30", "period": "W", "stage_rules": None,
              "pseudonymise_ids": False, "run_cache": str(tmp_path / "cache"), "previous_key_figures": None,
              "language": "en"}
    assert passed("01_segmentation") == common
    for name in ("02_acquisition", "03_monetisation", "05_recovery"):
        assert passed(name) == {**common, "horizon": 12}
    assert passed("04_retention") == common
