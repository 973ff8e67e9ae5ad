"""The package's layout: modules stay readable in size, and the loader sits below the analyses.

The flow is config -> sources -> parsing -> quality rules (loading) -> run -> analyses. The loader
modules import nothing above them, and the modules of the flow import no private name of another.
"""

from __future__ import annotations

import ast
import subprocess
import sys

from conftest import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "clc_lib"
MAX_MODULE_LINES = 800

# Modules over the limit today, with their size then: they may shrink (and leave this list once
# under the limit) but not grow.
OVERSIZED_MODULES: dict[str, int] = {}

# The loader: what turns sources into cleaned tables, and what it may import from clc_lib.
LOADER_MODULES = ("sources", "parsing", "loading")
BELOW_THE_LOADER = {"config", "contract", "engines", "errors", "files", "i18n", "paths", "quality", "settings",
                    *LOADER_MODULES}
ANALYSIS_MODULES = ("summary", "stages", "stage_history", "clv", "cohorts", "rfm", "survival", "churn_drivers",
                    "acquisition", "unit_economics", "monetisation", "recovery", "campaigns", "surveys", "scoring",
                    "display", "tables", "alt_text", "plots", "report", "publishing", "index", "rendering")
# The report runner and what publishes its runs: analyses, key figures and plots never import them.
RUNNER_MODULES = {"report", "publishing", "index", "rendering", "pinning", "printing", "cli"}
PURE_ANALYSES = ("summary", "stages", "stage_history", "cohorts", "rfm", "survival", "churn_drivers", "acquisition",
                 "unit_economics", "monetisation", "recovery", "campaigns", "surveys", "scoring", "definitions",
                 "keyfigures", "headlines")

# The modules of the flow, which use one another's names only through public ones.
FLOW_MODULES = ("config", "contract", "engines", "files", "sources", "parsing", "loading", "run", "quality")


def _line_count(path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _clc_imports(module: str) -> list[tuple[str, list[str]]]:
    """(imported clc_lib module, names imported from it) for every import in ``module``, nested ones too."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("clc_lib"):
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names if alias.name.startswith("clc_lib"))
    return found


def test_no_module_is_longer_than_the_limit_except_the_listed_ones():
    sizes = {str(path.relative_to(PACKAGE)): _line_count(path) for path in PACKAGE.rglob("*.py")}
    too_long = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES and name not in OVERSIZED_MODULES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}; split them"
    for name, listed in OVERSIZED_MODULES.items():
        assert name in sizes, f"{name} is gone: remove it from OVERSIZED_MODULES"
        assert sizes[name] <= listed, f"{name} grew from {listed} to {sizes[name]} lines"
        assert sizes[name] > MAX_MODULE_LINES, f"{name} is within the limit now: remove it from OVERSIZED_MODULES"


def test_the_loader_modules_import_nothing_above_them():
    for module in LOADER_MODULES:
        for imported, _ in _clc_imports(module):
            parts = imported.split(".")
            assert parts[0] == "clc_lib" and len(parts) == 2 and parts[1] in BELOW_THE_LOADER, (
                f"clc_lib.{module} imports {imported}")


def test_loading_a_table_imports_no_analysis_module():
    code = ("import sys, pandas as pd\n"
            "from clc_lib.loading import load_table\n"
            "load_table(pd.DataFrame({'customer_id': ['a', 'b'], 'timestamp': ['2024-01-02', '2024-01-03'],"
            " 'amount': ['1.5', '2']}))\n"
            f"print(sorted(m for m in {ANALYSIS_MODULES!r} if 'clc_lib.' + m in sys.modules))\n"
            "print('clc_lib.run' in sys.modules)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                               cwd=PROJECT_ROOT)
    assert completed.stdout.split("\n")[:2] == ["[]", "False"], completed.stdout


def test_the_modules_of_the_flow_import_no_private_names():
    for module in FLOW_MODULES:
        for imported, names in _clc_imports(module):
            private = [name for name in names if name.startswith("_")]
            assert not private, f"clc_lib.{module} imports private names {private} from {imported}"


def test_the_loader_is_no_longer_one_module():
    assert not (PACKAGE / "io.py").exists()
    for module in ("engines", "files", "sources", "parsing", "loading", "run"):
        docstring = ast.get_docstring(ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8")))
        assert docstring, f"clc_lib.{module} has no module docstring"


def test_analyses_and_key_figures_import_nothing_of_the_report_runner():
    modules = [*PURE_ANALYSES, *(f"clv/{p.stem}" for p in (PACKAGE / "clv").glob("*.py")),
               *(f"plots/{p.stem}" for p in (PACKAGE / "plots").glob("*.py"))]
    for module in modules:
        for imported, names in _clc_imports(module):
            parts = imported.split(".")
            targets = {parts[1]} if len(parts) > 1 else set(names)
            assert not targets & RUNNER_MODULES, f"clc_lib.{module} imports {imported} {names}"
