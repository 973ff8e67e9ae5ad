"""Property-based tests of the transaction-level functions on generated transaction tables.

Properties: totals are preserved (the loader's net of its documented exclusions, the customer
summary's up to as_of), purchase-day counts agree with an independent pandas count, every customer
is in exactly one lifecycle stage, and summaries, stages, RFM segments and cohort matrices do not
depend on the order of the rows or on how the same rows are split across files.

Amounts are multiples of 0.25, which binary floating point represents exactly, so sums do not
depend on the order of addition and the order-invariance checks can compare exactly.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from clc_lib.cohorts import cohort_matrix
from clc_lib.errors import DataError
from clc_lib.run import load_run
from clc_lib.rfm import rfm_table
from clc_lib.stage_history import stage_history
from clc_lib.stages import STAGES, classify_stages
from clc_lib.summary import customer_summary

pytestmark = pytest.mark.slow  # each property is checked on many generated data sets

FIRST_DAY = pd.Timestamp("2024-01-01")
N_DAYS = 150
CUSTOMERS = ("00017", "0042", "7", "A-1", "b2", "0003")
# Every example runs engine queries (~0.5 s each), so the budgets are small, the examples fixed
# (derandomize) and failures are reported as found: shrinking would take minutes.
_COMMON = {"deadline": None, "derandomize": True, "phases": (Phase.explicit, Phase.generate),
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
SETTINGS = settings(max_examples=8, **_COMMON)
FILE_SETTINGS = settings(max_examples=4, **_COMMON)


@st.composite
def transactions(draw, min_rows: int = 1, max_rows: int = 30) -> pd.DataFrame:
    """Contract transactions: several lines per order, same-day orders, returns (negative amounts)."""
    n = draw(st.integers(min_rows, max_rows))
    customers = draw(st.lists(st.sampled_from(CUSTOMERS), min_size=n, max_size=n))
    days = draw(st.lists(st.integers(0, N_DAYS - 1), min_size=n, max_size=n))
    hours = draw(st.lists(st.integers(0, 23), min_size=n, max_size=n))
    quarters = draw(st.lists(st.integers(-400, 4000), min_size=n, max_size=n))
    orders = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    amount = np.array(quarters, dtype="float64") * 0.25
    return pd.DataFrame({
        "customer_id": customers,
        # One order per customer, day and order number: lines of an order share its timestamp.
        "order_id": [f"{c}-{d}-{o}" for c, d, o in zip(customers, days, orders)],
        "timestamp": [FIRST_DAY + pd.Timedelta(days=d, hours=h if o else 0)
                      for d, h, o in zip(days, hours, orders)],
        "amount": amount,
        "is_return": amount < 0,
    })


def _as_of(draw_day: int) -> pd.Timestamp:
    return FIRST_DAY + pd.Timedelta(days=draw_day)


def _table(frame: pd.DataFrame):
    return ibis.memtable(frame.reset_index(drop=True))


def _shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


# --- customer summary ----------------------------------------------------------------------------------


@SETTINGS
@given(frame=transactions(), as_of_day=st.integers(0, N_DAYS + 10))
def test_summary_preserves_the_total_and_counts_purchase_days(frame, as_of_day):
    as_of = _as_of(as_of_day)
    summary = customer_summary(_table(frame), as_of)
    upto = frame[frame["timestamp"] < as_of + pd.Timedelta(days=1)]
    # Every customer with a row up to as_of, once; nobody else.
    assert summary.index.is_unique
    assert set(summary.index) == set(upto["customer_id"])
    # Net revenue (purchases + negative returns) adds up to the total of the rows up to as_of.
    assert summary["net_revenue"].sum() == upto["amount"].sum()
    assert (summary["return_amount"] >= 0).all()
    purchases = upto[~upto["is_return"]]
    days = purchases.assign(day=purchases["timestamp"].dt.normalize()).groupby("customer_id")["day"].nunique()
    orders = purchases.groupby("customer_id")["order_id"].nunique()
    expected_days = days.reindex(summary.index, fill_value=0)
    assert summary["purchase_days"].tolist() == expected_days.tolist()
    assert summary["orders"].tolist() == orders.reindex(summary.index, fill_value=0).tolist()
    assert summary["x"].tolist() == (expected_days - 1).clip(lower=0).tolist()
    # Same-day orders count once as a purchase day but each as an order.
    assert (summary["orders"] >= summary["purchase_days"]).all()
    buyers = summary["purchase_days"] > 0
    assert (summary.loc[buyers, "t_x"] <= summary.loc[buyers, "T"]).all()


# --- lifecycle stages ----------------------------------------------------------------------------------


@SETTINGS
@given(frame=transactions(min_rows=2).filter(lambda f: (~f["is_return"]).any()),
       as_of_day=st.integers(20, N_DAYS + 30))
def test_every_customer_is_in_exactly_one_stage(frame, as_of_day):
    as_of = _as_of(as_of_day)
    table = _table(frame)
    stages = classify_stages(table, as_of)
    bought = frame[~frame["is_return"] & (frame["timestamp"] < as_of + pd.Timedelta(days=1))]
    assert stages.index.is_unique
    assert set(stages.index) == set(bought["customer_id"])
    assert stages["stage"].notna().all() and set(stages["stage"].astype(str)) <= set(STAGES)

    # The stage history covers all the data: at each snapshot, everyone who had bought by then, once.
    history = stage_history(table, period="M").to_pandas()
    assert not history.duplicated(["customer_id", "period_end"]).any()
    assert history["stage"].notna().all() and set(history["stage"]) <= set(STAGES)
    purchases = frame[~frame["is_return"]]
    first_purchase = purchases.groupby("customer_id")["timestamp"].min().dt.normalize()
    assert pd.Timestamp(history["period_end"].max()) == purchases["timestamp"].max().normalize()
    for period_end, at_snapshot in history.groupby("period_end"):
        entered = first_purchase[first_purchase <= pd.Timestamp(period_end)].index
        assert set(at_snapshot["customer_id"]) == set(entered), period_end


# --- invariance to row order ---------------------------------------------------------------------------


def _analyses(table, as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    summary = customer_summary(table, as_of)
    results = {"summary": summary, "rfm": rfm_table(summary)}
    if summary["purchase_days"].sum() > 0:
        results["stages"] = classify_stages(table, as_of)
        results["cohorts"] = cohort_matrix(table, period="M", as_of=as_of)
    return results


def _assert_same(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    assert left.keys() == right.keys()
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_exact=True, obj=name)


@SETTINGS
@given(frame=transactions(min_rows=2), as_of_day=st.integers(30, N_DAYS), seed=st.integers(0, 2**16))
def test_results_do_not_depend_on_row_order(frame, as_of_day, seed):
    as_of = _as_of(as_of_day)
    _assert_same(_analyses(_table(frame), as_of), _analyses(_table(_shuffled(frame, seed)), as_of))


# --- the loader: totals net of exclusions, and files split differently --------------------------------


def _export(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows as a shop would export them (source column names, text ids, blanks for guests)."""
    return pd.DataFrame({
        "CustomerID": frame["customer_id"],
        "OrderID": frame["order_id"],
        "OrderDate": frame["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"),
        "Amount": frame["amount"].map(lambda a: f"{a:.2f}"),
    })


def _write(export: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        export.to_csv(path, index=False)
    else:
        export.to_parquet(path, index=False)


def _load(folder: Path, pattern: str, as_of: pd.Timestamp):
    config = {
        "name": "properties",
        "as_of": str(as_of.date()),
        "transactions": {"path": str(folder / pattern),
                         "columns": {"customer_id": "CustomerID", "order_id": "OrderID",
                                     "timestamp": "OrderDate", "amount": "Amount"}},
    }
    return load_run(config)


@st.composite
def exports(draw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(raw export rows, the same rows as the loader should keep them before as_of): some guest
    checkouts without a customer id and some lines exported twice."""
    frame = draw(transactions(min_rows=3, max_rows=25))
    export = _export(frame)
    guests = draw(st.lists(st.booleans(), min_size=len(export), max_size=len(export)))
    export.loc[guests, "CustomerID"] = ""
    repeats = draw(st.lists(st.integers(0, len(export) - 1), max_size=4))
    export = pd.concat([export, export.iloc[repeats]], ignore_index=True)
    order = draw(st.permutations(range(len(export))))
    return export.iloc[list(order)].reset_index(drop=True), frame


@FILE_SETTINGS
@given(data=exports(), as_of_day=st.integers(20, N_DAYS), cut=st.floats(0.0, 1.0), fmt=st.sampled_from(["csv", "parquet"]))
def test_loader_totals_and_results_survive_splitting_the_rows_across_files(data, as_of_day, cut, fmt):
    export, _ = data
    as_of = _as_of(as_of_day)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "one").mkdir()
        (folder / "split").mkdir()
        _write(export, folder / "one" / f"orders.{fmt}", fmt)
        split_at = round(cut * len(export))
        parts = [export.iloc[:split_at], export.iloc[split_at:]]
        for i, part in enumerate(p for p in parts if len(p)):
            _write(part, folder / "split" / f"orders_{i}.{fmt}", fmt)
        try:
            whole = _load(folder / "one", f"*.{fmt}", as_of)
        except DataError as exc:  # every row excluded is a documented refusal
            assert "No 'transactions' rows are left" in str(exc)
            return
        split = _load(folder / "split", f"orders_*.{fmt}", as_of)

        # The documented rules, computed independently: drop rows without a customer id, exclude
        # rows after the as_of day, drop lines identical to an earlier one (the source has order ids).
        raw = export.assign(amount=export["Amount"].astype(float),
                            timestamp=pd.to_datetime(export["OrderDate"]))
        raw_total = raw["amount"].sum()
        kept = raw[raw["CustomerID"] != ""]
        kept = kept[kept["timestamp"] < as_of + pd.Timedelta(days=1)]
        kept = kept.drop_duplicates(["CustomerID", "OrderID", "OrderDate", "Amount"])

        for run in (whole, split):
            quality = run.quality["transactions"]
            excluded = sum(r.amount for r in quality.rules if r.removed and r.amount is not None)
            assert quality.amount_in == pytest.approx(raw_total, abs=1e-9)
            assert quality.amount_out + excluded == pytest.approx(raw_total, abs=1e-9)
            assert quality.rows_in == len(export)
            assert quality.rows_out == len(kept) == quality.rows_in - sum(r.removed for r in quality.rules)
            assert quality.amount_out == pytest.approx(kept["amount"].sum(), abs=1e-9)
            assert quality.customers == kept["CustomerID"].nunique()

        _assert_same(_analyses(whole.transactions, as_of), _analyses(split.transactions, as_of))
