"""Comparisons shared by the engine equivalence tests (Spark and PostgreSQL against DuckDB)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd


def assert_same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Same index, columns and values: exact except floating columns (1e-9 relative)."""
    assert list(left.columns) == list(right.columns)
    assert left.index.equals(right.index)
    for column in left.columns:
        a, b = left[column], right[column]
        if pd.api.types.is_float_dtype(a) or pd.api.types.is_float_dtype(b):
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-9, atol=1e-9,
                                       err_msg=column, equal_nan=True)
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), column


def history_frame(table) -> pd.DataFrame:
    frame = table.to_pandas()
    frame["period_end"] = pd.to_datetime(frame["period_end"])
    for column in ("recency_days", "tenure_days", "purchase_days", "days_since_reactivation"):
        frame[column] = frame[column].astype("float64")
    frame["bought_in_period"] = frame["bought_in_period"].astype(bool)
    return frame.sort_values(["customer_id", "period_end"]).reset_index(drop=True)


def _frames(result) -> dict[str, pd.DataFrame]:
    """The tables inside a result: a frame, a series, an Ibis table (sorted) or a dataclass of frames."""
    if isinstance(result, pd.DataFrame):
        return {"": result}
    if isinstance(result, pd.Series):
        return {"": result.to_frame()}
    if hasattr(result, "to_pandas"):  # an Ibis table: engines return rows in any order
        frame = result.to_pandas()
        return {"": frame.sort_values(list(frame.columns)).reset_index(drop=True)}
    if dataclasses.is_dataclass(result):
        fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
        frames = {name: value for name, value in fields.items() if isinstance(value, pd.DataFrame)}
        frames["scalars"] = pd.DataFrame([{n: v for n, v in fields.items() if np.isscalar(v)}])
        return frames
    raise TypeError(f"no comparison for {type(result).__name__}")


def _calibration_end(run):
    return run.as_of - pd.Timedelta(weeks=26)


def _tracking(run):
    from clc_lib.clv import BetaGeoModel, cumulative_tracking

    # Fixed parameters (Fader, Hardie & Lee 2005, CDNOW, weeks): only the engine-side counts vary.
    model = BetaGeoModel.from_params({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    return cumulative_tracking(model, run.transactions, calibration_end=_calibration_end(run), holdout_end=run.as_of)


def _stage_metrics(run):
    from clc_lib.stage_history import stage_metrics
    from clc_lib.stages import classify_stages, derive_stage_rules

    rules = derive_stage_rules(run.transactions, run.as_of)
    stages = classify_stages(run.transactions, run.as_of, rules=rules)
    return stage_metrics(run.transactions, stages, as_of=run.as_of, rules=rules)


def _analyses():
    from clc_lib import acquisition, clv, cohorts, monetisation, recovery, rfm, stage_history, summary, survival, unit_economics

    return {
        "growth_accounting": lambda run: stage_history.growth_accounting(run.transactions, "M"),
        "stage_metrics": _stage_metrics,
        "stage_backtest": lambda run: stage_history.stage_backtest(run.transactions, window_days=90, data_end=run.as_of),
        "rfm_migration": lambda run: rfm.rfm_migration(run.transactions, run.as_of, period="M"),
        "model_inputs": lambda run: summary.model_inputs(run.transactions, run.as_of),
        "customer_period_panel": lambda run: summary.customer_period_panel(run.transactions, "M"),
        "churn_rate_over_time": lambda run: cohorts.churn_rate_over_time(run.transactions, "M", as_of=run.as_of),
        "customer_lifetimes": lambda run: survival.customer_lifetimes(run.transactions, run.as_of),
        "time_to_second_purchase": lambda run: survival.time_to_second_purchase(run.transactions, run.as_of),
        "customer_acquisition": lambda run: acquisition.customer_acquisition(run.transactions),
        "first_order_value": lambda run: acquisition.first_order_value(run.transactions, by=("cohort",)),
        "repeat_rate": lambda run: acquisition.repeat_rate(run.transactions, window_days=90, as_of=run.as_of,
                                                           by=("cohort",)),
        "cumulative_revenue": lambda run: unit_economics.cumulative_revenue_per_customer(
            run.transactions, as_of=run.as_of, by=None),
        "revenue_over_time": lambda run: monetisation.revenue_over_time(run.transactions),
        "aov_by_order_number": lambda run: monetisation.aov_by_order_number(run.transactions),
        "aov_by_tenure": lambda run: monetisation.aov_by_tenure(run.transactions),
        "reactivation": lambda run: recovery.reactivation(run.transactions, run.as_of),
        "time_to_return": lambda run: recovery.time_to_return(run.transactions, run.as_of),
        "lapsed_counts_over_time": lambda run: recovery.lapsed_counts_over_time(run.transactions, as_of=run.as_of),
        "calibration_holdout_split": lambda run: clv.calibration_holdout_split(
            run.transactions, _calibration_end(run), run.as_of),
        "cumulative_tracking": _tracking,
    }


#: The per-customer and per-period results behind the five reports, by name: each takes a loaded
#: run and returns what the report would show.
ANALYSES = _analyses()


def assert_same_analysis(name: str, duck, other) -> None:
    """The analysis ``name`` gives the same tables on ``other``'s engine as on DuckDB."""
    ours, theirs = _frames(ANALYSES[name](duck)), _frames(ANALYSES[name](other))
    assert list(theirs) == list(ours)
    assert any(len(frame) for frame in ours.values()), f"{name} gave no rows on DuckDB"
    for part, frame in ours.items():
        assert_same(theirs[part], frame)
