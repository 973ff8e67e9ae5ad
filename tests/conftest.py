"""Shared fixtures and the rule for missing test requirements.

A test that needs something outside the Python code (the CDNOW reference data in
``../shared/data/cdnow``, the demo data, an optional module) asks for it through
:func:`missing_requirement` or :func:`import_required`. On a developer's machine a missing one
skips the test with a message naming it; under CI (environment variable ``CI=true``), which
provides all of them, it fails the test with the same message, so that nothing is skipped quietly.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CDNOW_ENV_VAR = "CLC_CDNOW_DIR"
DEFAULT_CDNOW_DIR = PROJECT_ROOT.parent / "shared" / "data" / "cdnow"
CDNOW_FILES = ("CDNOW_master.txt", "CDNOW_sample.txt", "cdnow_customers_summary_with_transactions.csv",
               "donations.csv")


def running_under_ci() -> bool:
    """Whether the environment variable ``CI`` says the tests run under CI (``true``, ``1`` or ``yes``)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_requirement(message: str) -> NoReturn:
    """Skip the calling test because of ``message``, or fail it under CI, which provides every requirement."""
    if running_under_ci():
        pytest.fail(f"{message}. Under CI (CI=true) a missing requirement fails the test instead of skipping it.",
                    pytrace=False)
    pytest.skip(message)


def import_required(module_name: str, provided_by: str) -> ModuleType:
    """Import ``module_name``, or skip the test (fail it under CI) naming what provides the module."""
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        missing_requirement(f"The module {module_name} cannot be imported ({exc}); it comes with {provided_by}")


def cdnow_folder() -> Path:
    """The folder of the CDNOW reference files: ``CLC_CDNOW_DIR``, else ``../shared/data/cdnow``.

    Skips the test (fails it under CI) when one of :data:`CDNOW_FILES` is not in it.
    """
    folder = Path(os.environ.get(CDNOW_ENV_VAR) or DEFAULT_CDNOW_DIR)
    missing = [name for name in CDNOW_FILES if not (folder / name).is_file()]
    if missing:
        missing_requirement(f"CDNOW reference data not found: {', '.join(missing)} missing in {folder} "
                            f"(put the shared folder beside the project, or set {CDNOW_ENV_VAR} to its folder)")
    return folder


@pytest.fixture(scope="session")
def cdnow_dir() -> Path:
    """Folder of the CDNOW and donations files (Fader & Hardie); see ../shared/data/cdnow/README.md."""
    return cdnow_folder()


@pytest.fixture(scope="session")
def demo_config_file() -> Path:
    """The project's demo run config (``data/raw/demo/run.yaml``), written by :mod:`clc_lib.demo` when missing."""
    from clc_lib.demo import write_demo_data
    from clc_lib.paths import demo_config_path

    path = demo_config_path()
    if not path.is_file():
        write_demo_data(path.parent)
    return path


@pytest.fixture(autouse=True)
def private_cache_home(tmp_path_factory, monkeypatch) -> Path:
    """Give each test its own ``XDG_CACHE_HOME`` so report runs never share ``~/.cache/clc/runs``."""
    cache_home = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    return cache_home


@pytest.fixture(scope="session")
def demo_report_runs(tmp_path_factory):
    """Two report runs of the demo into one folder: 01 and 05 as of 2024-11-30, then all five reports.

    The second run's headlines can say what moved since the first. Shared by the consistency and
    browser tests, so the suite renders the demo once for both.
    """
    import yaml

    from clc_lib.paths import project_root
    from clc_lib.report import run_report

    demo_dir = project_root() / "data" / "raw" / "demo"
    folder = tmp_path_factory.mktemp("demo-runs")
    config = yaml.safe_load((demo_dir / "run.yaml").read_text())
    for table in ("transactions", "customers", "spend", "events", "campaigns", "surveys"):
        config[table]["path"] = str(demo_dir / config[table]["path"])
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("demo-runs-cache")))
        first = run_report(path, out=folder / "reports", only=["01", "05"], as_of="2024-11-30", jobs=1, echo=None)
        second = run_report(path, out=folder / "reports", jobs=2, echo=None)
    for run in (first, second):
        assert run.ok, [(n.name, n.error) for n in run.notebooks if n.status != "ok"]
    return first, second


def cdnow_report(cdnow_dir: Path, tmp_path_factory, label: str, **run_args):
    """A report run of the CDNOW master file (transactions only) with ``docs/examples/cdnow.yaml``,
    in its own temporary folder and run cache; ``run_args`` go to :func:`clc_lib.report.run_report`."""
    import yaml

    from clc_lib.report import run_report

    config = yaml.safe_load((PROJECT_ROOT / "docs" / "examples" / "cdnow.yaml").read_text())
    config["transactions"]["path"] = str(cdnow_dir / "CDNOW_master.txt")
    folder = tmp_path_factory.mktemp(label)
    path = folder / "cdnow.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp(f"{label}-cache")))
        run = run_report(path, out=folder / "reports", echo=None, **run_args)
    assert run.ok, [(n.name, n.error) for n in run.notebooks if n.error]
    return run


@pytest.fixture(scope="session")
def cdnow_report_run(cdnow_dir, tmp_path_factory):
    """A report run of the CDNOW master file in English (:func:`cdnow_report`)."""
    return cdnow_report(cdnow_dir, tmp_path_factory, "cdnow-run")
