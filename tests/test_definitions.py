"""The definitions layer: terms, their run-specific descriptions, the glossary and the populations."""

from __future__ import annotations

import json
import string
from types import SimpleNamespace

import pandas as pd
import pytest

from clc_lib.definitions import POPULATION_TERMS, TERMS, Term, glossary_frame, members, run_terms, share_of_customers
from clc_lib.errors import ConfigError
from clc_lib.keyfigures import KeyFigure
from clc_lib.settings import ClvSettings
from clc_lib.stages import STAGES
from keyfigure_cases import RULES, load_tiny_run

DEMO_DIR = "data/raw/demo"


@pytest.fixture(scope="module")
def tiny():
    return load_tiny_run()


@pytest.fixture(scope="module")
def demo():
    from clc_lib import project_root
    from clc_lib.run import load_run

    return load_run(project_root() / DEMO_DIR / "run.yaml")


def _stub_run(**thresholds):
    rules = SimpleNamespace(thresholds={**RULES, **thresholds})
    return SimpleNamespace(stage_rules=lambda: rules,
                           config=SimpleNamespace(clv=ClvSettings(horizon=26, time_unit="W")),
                           currency="EUR")


# --- the registry -------------------------------------------------------------------------------

def test_every_term_is_complete_and_frozen():
    for key, term in TERMS.items():
        assert term.key == key
        assert term.label and term.unit and term.description, key
        assert set(term.stages) <= set(STAGES), key
        assert set(term.thresholds) <= set(RULES), key
    with pytest.raises(AttributeError):
        TERMS["customer"].label = "Buyers"


def test_the_terms_the_reports_share_are_defined():
    needed = {"customer", "prospect", "active_customer", "lapsed_customer", "churned_customer", "churn_rate",
              "repeat_customer", "acquired_customer", "net_revenue", "gross_revenue", "clv_horizon"}
    assert needed <= set(TERMS)


def test_stage_terms_name_the_thresholds_their_descriptions_use():
    for term in TERMS.values():
        used = {name for _, name, _, _ in string.Formatter().parse(term.description) if name in RULES}
        assert used <= set(term.thresholds), term.key


def test_lapsed_and_churned_split_the_customers_who_are_not_active():
    active, lapsed, churned = (set(TERMS[k].stages) for k in ("active_customer", "lapsed_customer", "churned_customer"))
    customer_stages = {"new", "active", "loyal", "at_risk", "dormant", "churned", "reactivated"}
    assert active | lapsed | churned == customer_stages
    assert not (active & lapsed or active & churned or lapsed & churned)
    assert set(TERMS["lapsed_or_churned"].stages) == lapsed | churned


# --- resolved with a run's thresholds -----------------------------------------------------------

def test_descriptions_carry_the_runs_thresholds_and_where_they_come_from():
    terms = run_terms(_stub_run(at_risk_days=75, churn_days=292))
    assert terms["lapsed_customer"].description == (
        "Customers in the at-risk or dormant stage: no purchase for more than 75 days (the at-risk threshold) "
        "but for at most 292 days (the churn threshold).")
    assert "more than 292 days (the churn threshold)" in terms["churned_customer"].description
    assert dict(terms["churned_customer"].threshold_values) == {"churn_days": 292.0}
    assert "next 26 weeks" in terms["clv_horizon"].description
    assert "in EUR" in terms["net_revenue"].description
    assert TERMS["churned_customer"].threshold_values == ()  # the registry itself is unchanged


def test_report_parameters_fill_labels_and_are_required_when_asked_for():
    assert "repeat_within_window" not in run_terms(_stub_run())  # needs window_days
    terms = run_terms(_stub_run(), ["repeat_within_window", "top_share"], window_days=30, top_share=0.1)
    assert terms["repeat_within_window"].label == "Second purchase within 30 days (complete cohorts)"
    assert terms["top_share"].label == "Revenue share of the top 10% of customers"
    with pytest.raises(ConfigError, match="window_days"):
        run_terms(_stub_run(), ["repeat_within_window"])
    with pytest.raises(ConfigError, match="Unknown term 'lapsers'"):
        run_terms(_stub_run(), ["lapsers"])


def test_resolving_a_term_keeps_key_unit_and_stages():
    resolved = TERMS["lapsed_customer"].resolved(
        {**RULES, "at_risk_days_name": "a", "churn_days_name": "b"})
    assert isinstance(resolved, Term)
    assert (resolved.key, resolved.unit, resolved.stages) == ("lapsed_customer", TERMS["lapsed_customer"].unit,
                                                            ("at_risk", "dormant"))
    assert "more than 60 days (a) but for at most 240 days (b)" in resolved.description


def test_glossary_from_keys_and_from_key_figures():
    run = _stub_run()
    table = glossary_frame(run, ["churned_customer", "net_revenue", "churned_customer"])
    assert list(table.index) == ["Churned customers", "Net revenue"]
    assert list(table.columns) == ["definition", "unit"]
    assert "more than 240 days" in table.loc["Churned customers", "definition"]
    figure = KeyFigure("repeat_within_window", "Second purchase within 30 days (complete cohorts)", 0.4, "percent",
                       "resolved text")
    table = glossary_frame(run, [figure, "customer"])
    assert list(table.index) == ["Second purchase within 30 days (complete cohorts)", "Customers"]
    assert table.iloc[0]["definition"] == "resolved text"
    assert len(glossary_frame(run)) == len(run_terms(run))


# --- populations on the hand-built shop ---------------------------------------------------------

def test_populations_of_the_tiny_shop(tiny):
    expected = {
        "customer": ["c1", "c2", "c3", "c4", "c5"],  # r1 has only a return
        "acquired_customer": ["c1", "c2", "c3", "c4", "c5"],
        "prospect": ["p1", "p2", "v1"],  # customers table (p1, p2) and events (p1, anonymous v1)
        "active_customer": ["c1", "c4", "c5"],
        "loyal_customer": ["c4"],
        "lapsed_customer": ["c3"],
        "at_risk_customer": [],  # c3 is dormant
        "churned_customer": ["c2"],
        "lapsed_or_churned": ["c2", "c3"],
        "repeat_customer": ["c1", "c4", "c5"],  # c2's second purchase day is cancelled by its return
    }
    assert set(expected) == set(POPULATION_TERMS)
    for key, ids in expected.items():
        assert list(members(tiny, key)) == ids, key


def test_shares_divide_by_customers_not_prospects(tiny):
    assert share_of_customers(tiny, "churned_customer") == pytest.approx(1 / 5)
    assert share_of_customers(tiny, "lapsed_or_churned") == pytest.approx(2 / 5)
    assert share_of_customers(tiny, "repeat_customer") == pytest.approx(3 / 5)


def test_a_non_population_is_refused(tiny):
    with pytest.raises(ConfigError, match="not a population"):
        members(tiny, "net_revenue")


def test_glossary_of_the_tiny_run_uses_its_stage_rules(tiny):
    table = glossary_frame(tiny, ["lapsed_customer", "reactivation_rate"])
    assert "more than 60 days (the at-risk threshold) but for at most 240 days" in table.iloc[0]["definition"]
    assert "more than 120 days (the reactivation gap)" in table.iloc[1]["definition"]


# --- populations on the demo against its truth and the raw files --------------------------------

def _raw_buyers_and_prospects(root):
    transactions = pd.read_parquet(root / DEMO_DIR / "transactions.parquet")
    buyers = set(transactions.loc[~transactions["Invoice"].str.startswith("C"), "CustomerID"])
    accounts = set(pd.read_csv(root / DEMO_DIR / "customers.csv", dtype=str)["customer_number"])
    events = pd.read_parquet(root / DEMO_DIR / "events.parquet")
    people = set(events["user_id"].fillna(events["distinct_id"]))
    return buyers, accounts, (accounts | people) - buyers


def test_demo_customers_and_prospects_match_the_truth_and_the_raw_files(demo):
    from clc_lib import project_root

    root = project_root()
    truth = json.loads((root / DEMO_DIR / "truth.json").read_text())["counts"]
    buyers, accounts, prospects = _raw_buyers_and_prospects(root)
    customers = members(demo, "customer")
    assert len(customers) == truth["customers"] == len(buyers)
    assert set(customers) == buyers
    assert list(members(demo, "acquired_customer")) == list(customers)
    found = set(members(demo, "prospect"))
    assert found == prospects
    assert len(found & accounts) == truth["registered_prospects"]  # registered accounts that never bought
    assert not found & set(customers)


def test_demo_gross_revenue_is_net_revenue_plus_returns(demo):
    from clc_lib import project_root

    transactions = pd.read_parquet(project_root() / DEMO_DIR / "transactions.parquet")
    values = transactions["Quantity"] * transactions["Price"]
    purchases = ~transactions["Invoice"].str.startswith("C")
    summary = demo.summary()
    assert summary["net_revenue"].sum() + summary["return_amount"].sum() == pytest.approx(values[purchases].sum())
    assert summary["return_amount"].sum() == pytest.approx(-values[~purchases].sum())


def test_the_definitions_page_lists_every_term():
    from clc_lib import project_root

    page = (project_root() / "docs" / "definitions.md").read_text(encoding="utf-8")
    for key in TERMS:
        assert f"| `{key}` |" in page, key
