"""A tiny shop with answers worked out by hand, shared by the definitions and key-figure tests.

As of 2024-12-31 with fixed stage rules (at risk > 60 days, dormant > 120, churned > 240, loyal from
3 purchase days, reactivation gap 120 days, reactivated for 30 days, new for 30 days):

======  ===============================================  ======  =====  ==========================
person  rows                                              stage   x      why
======  ===============================================  ======  =====  ==========================
c1      buys 11-01 (100), 12-01 (50); 2025-01-05 (999)    active  1      recency 30; 2025 row is
                                                                         after as_of (excluded)
c2      buys 01-10 (80), 02-10 (40); returns 40 on 02-15  churned 0      the second day is cancelled
                                                                         by its return; recency 325
c3      buys 06-01 (60)                                   dormant 0      recency 213
c4      buys 10-01, 11-01, 12-20 (20 each)                loyal   2      3 purchase days, recency 11
c5      buys 02-01 (30), 12-10 (30)                       react.  1      gap 313 > 120, back 21 days
r1      returns 10 on 05-01, no purchase                  -       -      not a customer
p1      customers table, a sign-up event                  engaged -      prospect
p2      customers table only                              -       -      prospect
v1      an anonymous visit                                aware   -      prospect
======  ===============================================  ======  =====  ==========================
"""

from __future__ import annotations

import pandas as pd

AS_OF = "2024-12-31"
RULES = {
    "new_window_days": 30, "at_risk_days": 60, "dormant_days": 120, "churn_days": 240,
    "loyal_min_purchase_days": 3, "reactivation_gap_days": 120, "reactivated_window_days": 30,
}

PURCHASES = [  # customer, order id, date, amount
    ("c1", "o1", "2024-11-01", 100.0), ("c1", "o2", "2024-12-01", 50.0), ("c1", "o3", "2025-01-05", 999.0),
    ("c2", "o4", "2024-01-10", 80.0), ("c2", "o5", "2024-02-10", 40.0),
    ("c3", "o6", "2024-06-01", 60.0),
    ("c4", "o7", "2024-10-01", 20.0), ("c4", "o8", "2024-11-01", 20.0), ("c4", "o9", "2024-12-20", 20.0),
    ("c5", "o10", "2024-02-01", 30.0), ("c5", "o11", "2024-12-10", 30.0),
]
RETURNS = [("c2", "C5", "2024-02-15", -40.0), ("r1", "C99", "2024-05-01", -10.0)]


def transactions_frame() -> pd.DataFrame:
    rows = [(c, o, f"{d} 12:00", a, False) for c, o, d, a in PURCHASES]
    rows += [(c, o, f"{d} 12:00", a, True) for c, o, d, a in RETURNS]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "timestamp", "amount", "is_return"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


def customers_frame() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4", "c5", "p1", "p2"],
                         "first_seen": pd.to_datetime(["2024-01-01"] * 7)})


def events_frame() -> pd.DataFrame:
    frame = pd.DataFrame([("p1", "p1", "2024-09-01 10:00", "signup", "search"),
                          ("v1", None, "2024-09-02 10:00", "visit", "social")],
                         columns=["person_id", "customer_id", "timestamp", "event_type", "channel"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


def load_tiny_run():
    """The tiny shop as a :class:`clc_lib.run.RunData` (loaded and validated like any run)."""
    from clc_lib.run import load_run

    return load_run({
        "name": "tiny", "as_of": AS_OF, "period": "M", "currency": "EUR", "stages": dict(RULES),
        "transactions": {"data": transactions_frame()},
        "customers": {"data": customers_frame()},
        "events": {"data": events_frame()},
    })
