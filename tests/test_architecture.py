"""Module boundaries of clc_lib: no module uses another module's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "clc_lib"


def _is_private(name: str) -> bool:
    # ``_`` alone is gettext's public lookup (clc_lib.i18n._), not a private name.
    return name.startswith("_") and name != "_" and not (name.startswith("__") and name.endswith("__"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_module(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute name of the module a ``from ... import`` statement reads from."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def private_imports(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """Private names of other ``clc_lib`` modules used by ``source`` (the code of ``module``).

    Finds ``from clc_lib.x import _y`` (absolute or relative) and ``x._y`` where ``x`` was bound by
    ``import clc_lib.x as x`` or ``from clc_lib import x``. Each finding reads ``line: module._name``.
    """
    tree = ast.parse(source)
    found = []
    module_aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            origin = _imported_module(node, module, is_package)
            if origin.split(".")[0] != "clc_lib" or origin == module:
                continue
            for alias in node.names:
                if _is_private(alias.name):
                    found.append(f"{node.lineno}: {origin}.{alias.name}")
                else:
                    module_aliases[alias.asname or alias.name] = f"{origin}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "clc_lib":
                    if alias.asname:
                        module_aliases[alias.asname] = alias.name
                    else:
                        module_aliases["clc_lib"] = "clc_lib"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            chain, base = [], node.value
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in module_aliases:
                owner = ".".join([module_aliases[base.id], *reversed(chain)])
                if owner != module:
                    found.append(f"{node.lineno}: {owner}.{node.attr}")
    return found


MODULES = sorted(PACKAGE_DIR.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE_DIR.parent).as_posix())
def test_no_module_imports_a_private_name_of_another(path):
    relative = path.relative_to(PACKAGE_DIR.parent).as_posix()
    found = private_imports(path.read_text(encoding="utf-8"), _module_name(path), is_package=path.name == "__init__.py")
    assert not found, f"{relative} uses private names of other modules: {found}"


def test_the_check_finds_every_form_of_private_import():
    source = "\n".join([
        "from clc_lib.cohorts import _resolve_as_of, mark_complete_periods",
        "from clc_lib.acquisition import (\n    PERIOD_UNITS,\n    _ratio,\n)",
        "from .holdout import _check",
        "from ._base import dot, _dot",
        "from .. import summary",
        "import clc_lib.monetisation as money",
        "from clc_lib import cohorts",
        "x = money._clean_values(1) + summary._per_customer_days + cohorts.period_is_complete",
        "from clc_lib.errors import __doc__",
        "from clc_lib.clv.evaluation import _own_helper",
    ])
    found = dict(reversed(f.split(": ")) for f in private_imports(source, "clc_lib.clv.evaluation"))
    assert found == {
        "clc_lib.cohorts._resolve_as_of": "1",
        "clc_lib.acquisition._ratio": "2",
        "clc_lib.clv.holdout._check": "6",
        "clc_lib.clv._base._dot": "7",
        "clc_lib.monetisation._clean_values": "11",
        "clc_lib.summary._per_customer_days": "11",
    }


def test_the_check_resolves_relative_imports_of_a_package_and_ignores_other_packages():
    source = "from .holdout import _check\nfrom .bgnbd import BetaGeoModel\nfrom numpy import _globals\nimport os\nos._exit"
    found = private_imports(source, "clc_lib.clv", is_package=True)
    assert found == ["1: clc_lib.clv.holdout._check"]
