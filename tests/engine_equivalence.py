"""Comparisons shared by the engine equivalence tests (Spark and PostgreSQL against DuckDB)."""

from __future__ import annotations

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
