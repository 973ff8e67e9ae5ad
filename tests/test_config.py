"""Run config parsing: unknown keys, sources, secrets, relative paths."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from clc_lib.config import RunConfig, expand_env, load_config, merge_options
from clc_lib.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_paths_are_relative_to_the_config_file(tmp_path):
    config = RunConfig.from_yaml(_write(tmp_path, "transactions: {path: exports/tx.csv}\nperiod: w\n"))
    assert config.tables["transactions"].resolved_path == tmp_path / "exports" / "tx.csv"
    assert config.period == "W"
    assert config.name == "run"


def test_unknown_top_level_key_is_refused_with_a_suggestion(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown key 'transaction'.*Did you mean 'transactions'"):
        RunConfig.from_yaml(_write(tmp_path, "transaction: {path: tx.csv}\n"))


def test_unknown_table_key_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown key 'colums' under 'transactions'.*'columns'"):
        RunConfig.from_yaml(_write(tmp_path, "transactions: {path: tx.csv, colums: {}}\n"))


def test_transactions_are_required(tmp_path):
    with pytest.raises(ConfigError, match="no 'transactions' table"):
        RunConfig.from_yaml(_write(tmp_path, "customers: {path: c.csv}\n"))


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_bad_period_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="'period'"):
        RunConfig.from_yaml(_write(tmp_path, "transactions: tx.csv\nperiod: Q\n"))


def test_a_table_needs_exactly_one_source():
    with pytest.raises(ConfigError, match="exactly one source"):
        RunConfig.from_dict({"transactions": {"path": "a.csv", "table": "t", "connection": "duckdb:///x"}})
    with pytest.raises(ConfigError, match="names no 'connection'"):
        RunConfig.from_dict({"transactions": {"table": "t"}})


def test_a_dataframe_is_a_source():
    frame = pd.DataFrame({"customer_id": ["001"]})
    config = RunConfig.from_dict({"transactions": frame})
    assert config.tables["transactions"].data is frame
    assert "DataFrame" in config.tables["transactions"].describe()


def test_literal_passwords_are_refused_and_env_references_accepted(monkeypatch):
    with pytest.raises(ConfigError, match="contains a password"):
        RunConfig.from_dict({"transactions": {"table": "t", "connection": "postgres://bob:hunter2@db/shop"}})
    config = RunConfig.from_dict(
        {"transactions": {"table": "t", "connection": "postgres://bob:${SHOP_DB_PASSWORD}@db/shop"}}
    )
    monkeypatch.setenv("SHOP_DB_PASSWORD", "s3cret")
    url = expand_env(config.tables["transactions"].connection, what="connection")
    assert url == "postgres://bob:s3cret@db/shop"
    monkeypatch.delenv("SHOP_DB_PASSWORD")
    with pytest.raises(ConfigError, match=r"\$\{SHOP_DB_PASSWORD\}.*not set"):
        expand_env(config.tables["transactions"].connection, what="connection")
    # the description used in messages never shows the URL
    assert "s3cret" not in config.tables["transactions"].describe()


def test_merge_options_merges_nested_and_refuses_unknown():
    defaults = {"window": 90, "thresholds": {"at_risk": 60, "churn": 180}}
    merged = merge_options("stages", defaults, {"thresholds": {"churn": 365}})
    assert merged == {"window": 90, "thresholds": {"at_risk": 60, "churn": 365}}
    assert defaults["thresholds"]["churn"] == 180
    with pytest.raises(ConfigError, match=r"Unknown option 'windw' in section 'stages'.*Did you mean 'window'"):
        merge_options("stages", defaults, {"windw": 30})


def test_relative_config_path_resolves_from_the_project_root(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    (project / "data").mkdir()
    (project / "data" / "run.yaml").write_text("transactions: tx.csv\n")
    monkeypatch.setenv("CLC_PROJECT_ROOT", str(project))
    monkeypatch.chdir(project / "notebooks")
    config = load_config("data/run.yaml")
    assert config.source == (project / "data" / "run.yaml").resolve()
