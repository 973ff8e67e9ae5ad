"""Project folders resolve from any working directory, overridable by CLC_PROJECT_ROOT."""

from __future__ import annotations

from clc_lib import paths
from conftest import PROJECT_ROOT


def test_root_is_the_checkout_from_any_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.ROOT_ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    assert paths.project_root() == PROJECT_ROOT
    monkeypatch.chdir(PROJECT_ROOT / "notebooks")
    assert paths.notebooks_dir() == PROJECT_ROOT / "notebooks"
    assert paths.demo_config_path() == PROJECT_ROOT / "data" / "raw" / "demo" / "run.yaml"


def test_environment_variable_overrides_the_root(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.ROOT_ENV_VAR, str(tmp_path))
    assert paths.project_root() == tmp_path.resolve()
    assert paths.reports_dir() == tmp_path.resolve() / "reports"
    assert paths.processed_dir() == tmp_path.resolve() / "data" / "processed"
