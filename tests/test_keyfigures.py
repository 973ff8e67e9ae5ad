"""The key figures of each report: hand-built answers, the demo's truth and pandas recomputations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import clc_lib as clc
from clc_lib.display import FIGURE_KINDS, key_figures_html
from clc_lib.keyfigures import (
    KeyFigure,
    acquisition_figures,
    monetisation_figures,
    recovery_figures,
    retention_figures,
    segmentation_figures,
)
from keyfigure_cases import load_tiny_run

DEMO_DIR = "data/raw/demo"
FIGURE_FUNCTIONS = (segmentation_figures, acquisition_figures, monetisation_figures, retention_figures,
                    recovery_figures)


def _by_key(figures: list[KeyFigure]) -> dict[str, object]:
    return {figure.key: figure.value for figure in figures}


@pytest.fixture(scope="module")
def tiny():
    return load_tiny_run()


# --- the hand-built shop (keyfigure_cases.py lists every answer) ---------------------------------

def test_segmentation_figures_of_the_tiny_shop(tiny):
    figures = segmentation_figures(tiny)
    assert [f.label for f in figures] == ["Customers", "Prospects", "Repeat customers", "Loyal customers",
                                          "At-risk customers", "Churned customers", "Net revenue"]
    assert _by_key(figures) == {
        "customer": 5, "prospect": 3,  # p1, p2 (customers table) and v1 (events) apart from the customers
        "repeat_customer": pytest.approx(3 / 5),
        "net_revenue": pytest.approx(400.0),  # 150 + 80 + 60 + 60 + 60, and r1's return of 10
        "loyal_customer": pytest.approx(1 / 5),
        "at_risk_customer": 0.0,  # c3 is dormant, not at risk
        "churned_customer": pytest.approx(1 / 5),
    }
    # shares of customers carry the customers they count
    assert {f.key: f.count for f in figures if f.count is not None} == {
        "repeat_customer": 3, "loyal_customer": 1, "at_risk_customer": 0, "churned_customer": 1}


def test_acquisition_figures_of_the_tiny_shop(tiny):
    figures = acquisition_figures(tiny, repeat_window_days=90)
    assert [f.label for f in figures] == [
        "Customers acquired", "First purchase in data", "Repeat customers", "Typical days between purchases",
        "Second purchase within 90 days (complete cohorts)"]
    assert _by_key(figures) == {
        "acquired_customer": 5, "first_purchase_date": pd.Timestamp("2024-01-10"),  # the day of the 12:00 order
        "repeat_customer": pytest.approx(3 / 5),
        "days_between_purchases": pytest.approx(35.5),  # median of c1 30, c2 31, c4 40, c5 313
        # cohorts Jan-Sep have a complete 90-day window (c2, c3, c5): c2's second day (Feb 10) is cancelled by
        # its return, so c2 is no repeat customer, as in "repeat_customer"; c5 and c3 do not repeat in 90 days
        "repeat_within_window": 0.0,
    }
    assert acquisition_figures(tiny, repeat_window_days=30)[-1].label.startswith("Second purchase within 30 days")


def test_first_purchase_card_shows_the_day_without_the_time_of_day(tiny):
    card = key_figures_html(acquisition_figures(tiny, repeat_window_days=90))
    assert "2024-01-10" in card and "12:00" not in card


def test_monetisation_figures_of_the_tiny_shop(tiny):
    figures = monetisation_figures(tiny, top_share=0.2)
    assert [f.label for f in figures] == ["Net revenue", "Orders", "Net revenue per customer", "Returns",
                                          "Revenue share of the top 20% of customers", "Churned customers"]
    assert _by_key(figures) == {
        "net_revenue": pytest.approx(400.0), "orders": 10, "net_revenue_per_customer": pytest.approx(80.0),
        "returns": pytest.approx(50.0),
        "top_share": pytest.approx(150 / 410),  # c1 of the five customers; r1 is not a customer
        "churned_customer": pytest.approx(1 / 5),
    }


def test_retention_figures_of_the_tiny_shop(tiny):
    figures = retention_figures(tiny)
    assert [f.label for f in figures] == ["Customers", "Repeat customers", "Median days since last purchase",
                                          "Customers buying again one period after their first", "At-risk customers",
                                          "Churned customers", "Predicted 12-month value of at-risk customers"]
    assert _by_key(figures) == {
        "customer": 5, "repeat_customer": pytest.approx(3 / 5),
        "days_since_last_purchase": pytest.approx(30.0),  # 11, 21, 30, 213, 325
        # first-purchase months Jan (c2 buys in Feb), Feb (c5: no), Jun (c3: no), Oct (c4: yes), Nov (c1: yes)
        "retention_one_period": pytest.approx(3 / 5),
        "at_risk_customer": 0.0, "churned_customer": pytest.approx(1 / 5),
        "at_risk_value": 0.0,  # nobody is at risk, so no value is at risk
    }


def test_recovery_figures_of_the_tiny_shop(tiny):
    figures = recovery_figures(tiny)
    assert [f.label for f in figures] == ["Customers", "Lapsed or churned customers", "At-risk customers",
                                          "Churned customers", "Predicted 12-month value of at-risk customers",
                                          "Reactivation rate, last full period"]
    assert _by_key(figures) == {
        "customer": 5, "lapsed_or_churned": pytest.approx(2 / 5), "at_risk_customer": 0.0,
        "churned_customer": pytest.approx(1 / 5), "at_risk_value": 0.0,
        # lapsed for more than 120 days on Nov 30: c2, c3, c5; only c5 buys in December
        "reactivation_rate": pytest.approx(1 / 3),
    }


@pytest.mark.parametrize("function", FIGURE_FUNCTIONS, ids=lambda f: f.__name__)
def test_every_figure_carries_its_definition_and_a_known_kind(tiny, function):
    for figure in function(tiny):
        assert figure.kind in FIGURE_KINDS
        assert figure.label == clc.run_terms(tiny, [figure.key], window_days=90, top_share=0.2)[figure.key].label
        assert figure.definition and "{" not in figure.definition


def test_a_run_without_purchases_gives_missing_shares_not_errors(tiny):
    empty = clc.load_run({"name": "returns only", "as_of": "2024-12-31", "stages": tiny.config.stages,
                          "transactions": {"data": pd.DataFrame({
                              "customer_id": ["r1"], "order_id": ["C1"], "timestamp": pd.to_datetime(["2024-05-01"]),
                              "amount": [-10.0], "is_return": [True]})}})
    for function in FIGURE_FUNCTIONS:
        figures = function(empty)
        assert [f.kind for f in figures] == [f.kind for f in function(tiny)]
    figures = _by_key(retention_figures(empty))
    assert figures["customer"] == 0 and figures["retention_one_period"] is None
    assert np.isnan(figures["repeat_customer"]) and np.isnan(figures["churned_customer"])
    assert np.isnan(_by_key(monetisation_figures(empty))["top_share"])


def test_show_key_figures_records_key_figures_by_label(tiny, monkeypatch):
    from clc_lib import display

    from clc_lib.handoff import KEY_FIGURES_MIME

    outputs: list[dict] = []
    monkeypatch.setattr("IPython.display.display", lambda bundle, raw=False: outputs.append(bundle))
    display.show_key_figures(recovery_figures(tiny), currency="EUR")
    recorded = outputs[0][KEY_FIGURES_MIME]["key_figures"]
    assert [(r["label"], r["kind"]) for r in recorded][:2] == [("Customers", "count"),
                                                              ("Lapsed or churned customers", "percent")]
    assert recorded[1]["formatted"] == "40.0%" and recorded[1]["count"] == 2 and recorded[1]["key"] == "lapsed_or_churned"
    assert recorded[0]["count"] is None


# --- the demo: its truth and independent pandas recomputations from the raw files ---------------

@pytest.fixture(scope="module")
def demo():
    return clc.load_run(clc.project_root() / DEMO_DIR / "run.yaml")


@pytest.fixture(scope="module")
def raw():
    """Per-customer facts recomputed with pandas from the raw demo files."""
    root = clc.project_root() / DEMO_DIR
    lines = pd.read_parquet(root / "transactions.parquet")
    lines = lines.assign(value=lines["Quantity"] * lines["Price"], day=lines["InvoiceDate"].dt.normalize(),
                         is_return=lines["Invoice"].str.startswith("C"))
    purchases, returns = lines[~lines["is_return"]], lines[lines["is_return"]]
    days = purchases.groupby(["CustomerID", "day"], as_index=False)["value"].sum().sort_values("day")
    # returns are booked against the customer's latest purchase day on or before the return
    booked = pd.merge_asof(returns.sort_values("day")[["CustomerID", "day", "value"]].rename(columns={"day": "ret"}),
                           days[["CustomerID", "day"]], left_on="ret", right_on="day", by="CustomerID")
    days = days.merge(booked.groupby(["CustomerID", "day"])["value"].sum().rename("returned").reset_index(),
                      on=["CustomerID", "day"], how="left").sort_values(["CustomerID", "day"])
    days["cancelled"] = days["returned"].notna() & (days["value"] + days["returned"].fillna(0) <= 1e-9)
    days["is_first"] = ~days.duplicated("CustomerID")
    per_customer = days.groupby("CustomerID").agg(first=("day", "min"), last=("day", "max"), n_days=("day", "size"))
    per_customer["x"] = days[~days["is_first"] & ~days["cancelled"]].groupby("CustomerID").size()
    per_customer["x"] = per_customer["x"].fillna(0)
    as_of = pd.Timestamp(json.loads((root / "truth.json").read_text())["end"])
    per_customer["recency"] = (as_of - per_customer["last"]).dt.days
    net = lines.groupby("CustomerID")["value"].sum()
    return {"lines": lines, "days": days, "customers": per_customer, "net": net, "as_of": as_of,
            "truth": json.loads((root / "truth.json").read_text())}


def test_demo_segmentation_figures(demo, raw):
    figures = _by_key(segmentation_figures(demo))
    customers, thresholds = raw["customers"], demo.stage_rules().thresholds
    assert figures["customer"] == raw["truth"]["counts"]["customers"]
    assert figures["repeat_customer"] == pytest.approx((customers["x"] > 0).mean())
    assert figures["net_revenue"] == pytest.approx(raw["lines"]["value"].sum())
    assert figures["loyal_customer"] == pytest.approx(clc.stage_shares(demo.stages())["loyal"])
    # with the packaged precedence, at risk and churned are recency bands
    recency = customers["recency"]
    assert figures["at_risk_customer"] == pytest.approx(
        ((recency > thresholds["at_risk_days"]) & (recency <= thresholds["dormant_days"])).mean())
    assert figures["churned_customer"] == pytest.approx((recency > thresholds["churn_days"]).mean())


def test_demo_acquisition_figures(demo, raw):
    figures = _by_key(acquisition_figures(demo, repeat_window_days=90))
    customers = raw["customers"]
    assert figures["acquired_customer"] == raw["truth"]["counts"]["customers"]
    assert figures["first_purchase_date"] == raw["lines"]["InvoiceDate"].min().normalize()
    gaps = ((customers["last"] - customers["first"]).dt.days / (customers["n_days"] - 1))[customers["n_days"] > 1]
    assert figures["days_between_purchases"] == pytest.approx(gaps.median())
    # 90-day repeat in the monthly cohorts that ended at least 90 days before the end of the data; the
    # repeat is the first later purchase day not cancelled by its returns (the summary's x)
    days = raw["days"]
    second = days[~days["is_first"] & ~days["cancelled"]].groupby("CustomerID")["day"].min()
    cohort_end = customers["first"].dt.to_period("M").dt.end_time.dt.normalize()
    complete = customers[cohort_end + pd.Timedelta(days=90) <= raw["as_of"]]
    repeated = (second.reindex(complete.index) - complete["first"]).dt.days <= 90
    assert figures["repeat_within_window"] == pytest.approx(repeated.mean())


def test_demo_monetisation_figures(demo, raw):
    figures = _by_key(monetisation_figures(demo, top_share=0.2))
    lines, truth = raw["lines"], raw["truth"]["counts"]
    assert figures["orders"] == truth["orders"]
    # money figures are kept to the cent
    assert figures["net_revenue"] == pytest.approx(lines["value"].sum(), abs=0.005)
    assert figures["returns"] == pytest.approx(-lines.loc[lines["is_return"], "value"].sum(), abs=0.005)
    assert figures["net_revenue_per_customer"] == pytest.approx(lines["value"].sum() / truth["customers"], abs=0.005)
    clipped = np.sort(raw["net"].clip(lower=0).to_numpy())[::-1]
    assert figures["top_share"] == pytest.approx(clipped[: truth["customers"] // 5].sum() / clipped.sum())


def test_demo_retention_figures(demo, raw):
    figures = _by_key(retention_figures(demo))
    customers = raw["customers"]
    assert figures["customer"] == raw["truth"]["counts"]["customers"]
    assert figures["days_since_last_purchase"] == pytest.approx(customers["recency"].median())
    churn_days = demo.stage_rules().thresholds["churn_days"]
    assert figures["churned_customer"] == pytest.approx((customers["recency"] > churn_days).mean())
    months = raw["days"].assign(month=raw["days"]["day"].dt.to_period("M"))
    first_month = months.groupby("CustomerID")["month"].min()
    reached = first_month[first_month < raw["as_of"].to_period("M")]
    bought_next = months.merge((reached + 1).rename("month").reset_index(), on=["CustomerID", "month"])
    assert figures["retention_one_period"] == pytest.approx(bought_next["CustomerID"].nunique() / len(reached))


def test_demo_recovery_figures(demo, raw):
    figures = _by_key(recovery_figures(demo))
    thresholds = demo.stage_rules().thresholds
    lapsed = clc.lapsed_counts_over_time(demo.transactions, period=demo.period, as_of=demo.as_of,
                                         lapse_days=int(thresholds["at_risk_days"]),
                                         churn_days=int(thresholds["churn_days"]))
    assert figures["lapsed_or_churned"] == pytest.approx(1 - lapsed["active"].iloc[-1] / lapsed["customers"].iloc[-1])
    # the last full period is December 2024: customers silent for more than the reactivation gap on
    # November 30 who bought in December
    days = raw["days"]
    start = pd.Timestamp("2024-12-01")
    before = days[days["day"] < start].groupby("CustomerID")["day"].max()
    base = before[(start - pd.Timedelta(days=1) - before).dt.days > thresholds["reactivation_gap_days"]]
    came_back = set(days.loc[days["day"] >= start, "CustomerID"]) & set(base.index)
    assert figures["reactivation_rate"] == pytest.approx(len(came_back) / len(base))
    assert figures["customer"] == raw["truth"]["counts"]["customers"]


def test_key_figure_cards_mix_with_tuples_and_escape_labels():
    from clc_lib.display import key_figures_html

    markup = key_figures_html([KeyFigure("net_revenue", "Net <revenue>", 12345.6, "currency"),
                               ("Orders", 3, "count")], currency="EUR")
    assert "12,346 EUR" in markup and "Net &lt;revenue&gt;" in markup
    assert markup.index("12,346 EUR") < markup.index(">3<")


def test_cards_show_counts_and_the_change_since_the_previous_run(tiny):
    from clc_lib.display import key_figures_html

    figures = recovery_figures(tiny)
    previous = {"as_of": "2024-11-30", "run": "r", "values": {"Customers": 4, "Lapsed or churned customers": 0.5}}
    markup = key_figures_html(figures, currency="EUR", previous=previous)
    assert '<div class="clc-card-count">2 customers</div>' in markup  # lapsed or churned: c2, c3
    assert "+1 (+25.0%) since 2024-11-30" in markup and "-10.0 pp since 2024-11-30" in markup
    assert markup.count("clc-card-change") == 2 + 1  # two changes, and the style rule
    assert "since" not in key_figures_html(figures, currency="EUR")  # run by hand: no change shown
    with pytest.raises(ValueError, match="previous_key_figures"):
        key_figures_html(figures, previous={"Customers": 4})


def test_money_figures_are_kept_to_the_cent_so_run_to_run_noise_is_no_change(tiny):
    from clc_lib.keyfigures import _Figures

    figures = _Figures(tiny, ["net_revenue", "customer"])
    figures.add("net_revenue", 6817.028998604812, "currency")
    figures.add("customer", 3, "count")
    assert [f.value for f in figures.items] == [6817.03, 3]
    other = _Figures(tiny, ["net_revenue"])
    other.add("net_revenue", 6817.02900041069, "currency")
    assert other.items[0].value == figures.items[0].value
