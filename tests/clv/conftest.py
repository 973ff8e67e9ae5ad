"""Fixtures of the CDNOW sample and donations data for the customer-value model tests."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def cdnow_summary(cdnow_dir) -> pd.DataFrame:
    """Hardie's 39-week calibration summary (x, t_x, T in weeks; zbar in USD), index ID."""
    return pd.read_csv(cdnow_dir / "cdnow_customers_summary_with_transactions.csv", index_col="ID")


@pytest.fixture(scope="session")
def donations(cdnow_dir) -> pd.DataFrame:
    """BG/BB donations patterns renamed to the model's columns x, t_x, n plus weights."""
    raw = pd.read_csv(cdnow_dir / "donations.csv")
    return raw.rename(columns={"frequency": "x", "recency": "t_x", "periods": "n"})


@pytest.fixture(scope="session")
def cdnow_transactions(cdnow_dir) -> ibis.Table:
    """CDNOW_sample.txt as a contract transaction table (every row a purchase; sample ids as customer ids)."""
    raw = pd.read_csv(cdnow_dir / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["master_id", "sample_id", "date", "cds", "value"], dtype={"master_id": str, "date": str})
    frame = pd.DataFrame({
        "customer_id": raw["sample_id"].astype(str),
        "order_id": [f"o{i}" for i in range(len(raw))],
        "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d"),
        "amount": raw["value"].astype(float),
        "quantity": raw["cds"].astype(float),
        "is_return": False,
    })
    return ibis.memtable(frame)
