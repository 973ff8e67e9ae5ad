"""Run config parsing: unknown keys, sources, secrets, relative paths; typed, frozen settings read once."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

import clc_lib.config
from clc_lib import cli
from clc_lib.config import RunConfig, expand_env, load_config, merge_options
from clc_lib.errors import ConfigError
from clc_lib.periods import Period
from clc_lib.settings import ClvSettings, ReportSettings, RfmSettings, StageSettings


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_paths_are_relative_to_the_config_file(tmp_path):
    config = RunConfig.from_yaml(_write(tmp_path, "transactions: {path: exports/tx.csv}\nperiod: w\n"))
    assert config.tables["transactions"].resolved_path == tmp_path / "exports" / "tx.csv"
    assert config.period is Period.parse("W")
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


# ------------------------------------------------------------------ typed, validated, frozen settings

def test_sections_are_typed_with_the_documented_defaults(tmp_path):
    config = load_config(_write(tmp_path, "transactions: tx.csv\nas_of: 2024-06-30\nclv: {horizon: 26}\n"))
    assert config.as_of == dt.date(2024, 6, 30)
    assert config.period is Period.parse("M")
    assert config.clv == ClvSettings(horizon=26)
    assert (config.clv.model, config.clv.time_unit, config.clv.margin, config.clv.enabled) == ("bgnbd", "W", 1.0, True)
    assert config.rfm == RfmSettings() and config.rfm.bins == 5 and config.rfm.segment_map == "classic"
    assert config.report == ReportSettings() and config.report.keep == 10 and config.report.cell_timeout is None
    assert config.stages.churn_days is None and config.stages.derive.min_gaps == 30
    assert config.stages.precedence[-1] == ("active", "always")
    assert config.quality["duplicate_rows"] == "drop" and config.quality["max_line_amount"] == 1e7
    assert config.engine["backend"] == "duckdb" and config.margin["rate"] is None


def test_as_of_left_out_is_none_for_the_loader_to_resolve(tmp_path):
    assert load_config(_write(tmp_path, "transactions: tx.csv\n")).as_of is None


@pytest.mark.parametrize(("section", "typo", "suggestion"), [
    ("rfm", "binz: 4", "bins"),
    ("clv", "horizn: 26", "horizon"),
    ("report", "kep: 3", "keep"),
    ("stages", "churn_day: 200", "churn_days"),
    ("quality", "duplicate_row: keep", "duplicate_rows"),
    ("engine", "theads: 2", "threads"),
    ("margin", "rat: 0.4", "rate"),
])
def test_clc_check_refuses_a_typo_in_any_section(tmp_path, capsys, section, typo, suggestion):
    path = _write(tmp_path, f"transactions: tx.csv\n{section}: {{{typo}}}\n")
    assert cli.main(["check", "--config", str(path)]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    key = typo.split(":")[0]
    assert f"Unknown option '{key}' in section '{section}'" in err
    assert f"Did you mean '{suggestion}'?" in err
    assert str(path) in err  # the file is named
    assert "tx.csv" not in err  # refused before any data is read


def test_nested_typos_are_refused_with_their_section(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown option 'min_gap' in section 'stages.derive'.*'min_gaps'"):
        load_config(_write(tmp_path, "transactions: tx.csv\nstages: {derive: {min_gap: 10}}\n"))
    with pytest.raises(ConfigError, match=r"Unknown option 'recncy' in section 'rfm.edges'.*'recency'"):
        load_config(_write(tmp_path, "transactions: tx.csv\nrfm: {edges: {recncy: [30, 90]}}\n"))
    with pytest.raises(ConfigError, match=r"rfm.segment_map is 'clasic'.*Did you mean 'classic'"):
        load_config(_write(tmp_path, "transactions: tx.csv\nrfm: {segment_map: clasic}\n"))


@pytest.mark.parametrize(("section", "value", "message"), [
    ("rfm", "{bins: 1}", "rfm.bins is 1; give a whole number at least 2"),
    ("rfm", "{bins: 4.5}", "rfm.bins is 4.5"),
    ("clv", "{horizon: 0}", "clv.horizon is 0; give a number above 0"),
    ("clv", "{horizon: '52'}", "clv.horizon is '52'"),
    ("clv", "{margin: 1.5}", "clv.margin is 1.5; give a number above 0 and at most 1"),
    ("clv", "{annual_discount_rate: -1}", "clv.annual_discount_rate is -1"),
    ("clv", "{penalizer: -0.1}", "clv.penalizer is -0.1"),
    ("clv", "{model: bgbnd}", "clv.model is 'bgbnd'; use one of bgnbd, mbgnbd, pareto_nbd. Did you mean 'bgnbd'?"),
    ("clv", "{time_unit: Y}", "clv.time_unit"),
    ("clv", "{enabled: 'no'}", "clv.enabled is 'no'; write true or false"),
    ("report", "{keep: 0}", "report.keep is 0"),
    ("report", "{pseudonymise_ids: 'no'}", "report.pseudonymise_ids is 'no'"),
    ("report", "{cell_timeout: -5}", "report.cell_timeout is -5"),
    ("stages", "{churn_days: -1}", "stages.churn_days is -1"),
    ("stages", "{derive: {churn_gap_quantile: 1.5}}", "stages.derive.churn_gap_quantile is 1.5"),
    ("stages", "{sources: {churn: x}}", "Unknown option 'churn' in section 'stages.sources'"),
    ("quality", "{returns: ignore}", "quality.returns is 'ignore'"),
    ("quality", "{max_line_amount: -1}", "quality.max_line_amount is -1"),
    ("engine", "{threads: 0}", "engine.threads is 0"),
    ("margin", "{rate: 40}", "margin.rate is 40"),
    ("margin", "[1, 2]", "'margin' of the run config"),
])
def test_wrong_types_and_out_of_range_values_are_refused(tmp_path, section, value, message):
    path = _write(tmp_path, f"transactions: tx.csv\n{section}: {value}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_config_and_settings_are_frozen(tmp_path):
    config = load_config(_write(tmp_path, "transactions: tx.csv\nmargin: {by: category, rates: {books: 0.3}}\n"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.as_of = dt.date(2024, 1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.clv.horizon = 10
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.tables["transactions"].path = "other.csv"
    with pytest.raises(TypeError):
        config.tables["customers"] = config.tables["transactions"]
    with pytest.raises(TypeError):
        config.margin["rates"]["books"] = 0.9
    with pytest.raises(TypeError):
        config.quality["returns"] = "drop"
    with pytest.raises(TypeError):
        config.tables["transactions"].columns["customer_id"] = "id"


def test_replace_validates_the_changed_sections(tmp_path):
    config = load_config(_write(tmp_path, "transactions: tx.csv\n"))
    assert dataclasses.replace(config, clv={"horizon": 13}).clv.horizon == 13
    with pytest.raises(ConfigError, match="Unknown option 'horizn' in section 'clv'"):
        dataclasses.replace(config, clv={"horizn": 13})


def test_analyses_accept_a_plain_mapping_through_the_same_validation():
    assert RfmSettings.coerce({"bins": 4}) == RfmSettings(bins=4)
    assert RfmSettings.coerce(None) == RfmSettings()
    settings = ClvSettings(horizon=13)
    assert ClvSettings.coerce(settings) is settings
    assert StageSettings.coerce({"churn_days": 200}).churn_days == 200.0
    with pytest.raises(ConfigError, match="Unknown option 'binz' in section 'rfm'"):
        RfmSettings.coerce({"binz": 4})


def test_the_yaml_is_read_once_per_process(tmp_path, monkeypatch):
    path = _write(tmp_path, "transactions: tx.csv\nclv: {horizon: 26}\n")
    reads = []
    real_read = clc_lib.config._read_config_bytes
    monkeypatch.setattr(clc_lib.config, "_read_config_bytes", lambda p: reads.append(p) or real_read(p))
    first = load_config(path)
    assert load_config(str(path)) is first
    assert RunConfig.from_yaml(path) is first
    assert len(reads) == 1
    path.write_text("transactions: tx.csv\nclv: {horizon: 13}\n")  # a different size: read again
    assert load_config(path).clv.horizon == 13
    assert len(reads) == 2


def test_a_notebooks_calls_read_the_yaml_once(demo_config_file, monkeypatch):
    """load_run plus what a report notebook asks of the config: one read of the YAML."""
    from clc_lib import report
    from clc_lib.run import load_run

    clc_lib.config._LOADED_CONFIGS.clear()
    reads = []
    real_read = clc_lib.config._read_config_bytes
    monkeypatch.setattr(clc_lib.config, "_read_config_bytes", lambda p: reads.append(p) or real_read(p))
    run = load_run(demo_config_file)
    run.summary()
    assert run.config.clv.horizon == 52 and run.config.rfm.bins == 5
    from clc_lib.paths import notebooks_dir

    task = report._Task(source=notebooks_dir() / "04_retention.ipynb", executed=Path("x.ipynb"), log=Path("x.log"),
                        config=Path(demo_config_file), as_of="2024-12-31", cwd=Path.cwd(), cell_timeout=None,
                        start_timeout=60, pseudonymise_ids=True, run_cache=None, stage_rules=None)
    report.notebook_parameters(task)
    load_run(demo_config_file).config
    assert len(reads) == 1


def test_a_config_survives_pickling_and_deep_copies(tmp_path):
    import copy
    import pickle

    config = load_config(_write(tmp_path, "transactions: tx.csv\nmargin: {rate: 0.4}\nstages: {churn_days: 200}\n"))
    for copied in (pickle.loads(pickle.dumps(config)), copy.deepcopy(config)):
        assert copied == config
        assert copied.margin["rate"] == 0.4 and copied.stages.churn_days == 200.0
        with pytest.raises(TypeError):
            copied.margin["rate"] = 0.5


def test_the_settings_are_the_bottom_layer_and_import_no_analysis():
    import ast

    import clc_lib.settings

    tree = ast.parse(Path(clc_lib.settings.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
                and node.module.startswith("clc_lib")}
    assert imported == {"clc_lib.errors", "clc_lib.periods", "clc_lib.i18n"}


def test_the_clv_model_names_of_the_settings_are_the_purchase_models():
    from clc_lib.clv.value import PURCHASE_MODELS
    from clc_lib.settings import CLV_MODEL_NAMES

    assert tuple(PURCHASE_MODELS) == CLV_MODEL_NAMES
