"""The scoring table and its atomic writer."""

from __future__ import annotations

from types import SimpleNamespace

import ibis
import pandas as pd
import pytest

from clc_lib.errors import ConfigError
from clc_lib.scoring import score_customers, write_scores
from clc_lib.settings import ClvSettings, RfmSettings, StageSettings
from test_stages import AS_OF, RULES, build_transactions


@pytest.fixture(scope="module")
def run():
    # a dozen hand-built customers cannot identify the CLV models: their columns are switched off here
    config = SimpleNamespace(stages=StageSettings.from_mapping(RULES), rfm=RfmSettings(segment_map="rf_grid"),
                             clv=ClvSettings(enabled=False))
    return SimpleNamespace(config=config, transactions=ibis.memtable(build_transactions()),
                           as_of=pd.Timestamp(AS_OF), currency="EUR", events=None)


@pytest.fixture(scope="module")
def scores(run):
    return score_customers(run)


def test_one_row_per_customer_with_summary_stage_and_rfm(scores):
    frame = build_transactions()
    customers = set(frame.loc[frame["timestamp"] < "2025-01-01", "customer_id"])
    assert set(scores.index) == customers and scores.index.is_unique
    for column in ("x", "t_x", "T", "net_revenue", "stage", "r_score", "f_score", "m_score", "rfm_segment"):
        assert column in scores.columns
    assert scores.loc["r1", "stage"] == "reactivated"  # the run config's stage thresholds are used
    assert scores.loc["l1", "purchase_days"] == 5
    assert pd.isna(scores.loc["x1", "stage"]) and scores.loc["x1", "rfm_segment"] == "Other"
    assert scores.attrs["currency"] == "EUR"
    assert set(scores["rfm_segment"].cat.categories) >= {"Champions", "Hibernating"}  # rf_grid preset


def test_extra_providers_add_columns_and_clashes_are_refused(run):
    def doubled(run_, table):
        return pd.DataFrame({"double_revenue": table["net_revenue"] * 2}, index=table.index)

    scored = score_customers(run, extra=[doubled])
    assert (scored["double_revenue"] == scored["net_revenue"] * 2).all()

    def clash(run_, table):
        return table[["stage"]]

    with pytest.raises(ConfigError, match="already in the table"):
        score_customers(run, extra=[clash])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_scores_round_trip_without_leftovers(scores, tmp_path, suffix):
    target = write_scores(scores, tmp_path / "out" / f"scores{suffix}")
    assert target.exists()
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left behind
    read = pd.read_csv(target, dtype={"customer_id": str}) if suffix == ".csv" else pd.read_parquet(target)
    read = read.set_index("customer_id") if "customer_id" in read.columns else read
    assert list(read.index) == list(scores.index)
    assert read.loc["l1", "net_revenue"] == pytest.approx(scores.loc["l1", "net_revenue"])


def test_write_scores_refuses_unknown_format(scores, tmp_path):
    with pytest.raises(ConfigError, match=".parquet or .csv"):
        write_scores(scores, tmp_path / "scores.xlsx")


@pytest.mark.slow
def test_demo_scores_carry_the_clv_columns_of_the_configured_horizon():
    from clc_lib.clv import predict_customer_value
    from clc_lib.run import load_run
    from clc_lib.paths import demo_config_path

    demo = load_run(demo_config_path())
    scored = score_customers(demo)
    assert scored.index.is_unique and len(scored) == demo.quality["transactions"].customers
    buyers = scored["purchase_days"] > 0
    assert scored.loc[buyers, "p_alive"].between(0, 1).all()
    assert (scored.loc[buyers, "clv"] >= 0).all() and scored.loc[buyers, "clv"].notna().all()
    # the default horizon is 52 weeks, undiscounted: the same as calling the model directly
    direct = predict_customer_value(scored, horizon=52)
    pd.testing.assert_series_equal(scored["clv"], direct["clv"], check_names=False)
