"""The demo business: a seeded online shop written out as raw exports (``clc demo-data``).

The demo is the project's default data: every notebook, report and CLI command runs on it when no
run config is given. It is a fictional European online shop selling lifestyle goods in seven
categories, with about three years of history, and it is *simulated from known models* so that the
analyses can be checked against the truth:

* **Acquisition.** Buying customers arrive over the whole window, growing by a fixed rate per year
  with a November/December peak. Each is acquired by one of five channels whose mix drifts over
  time (social grows). Every channel has its own true cost per acquired buyer (CAC), which drives
  the monthly marketing spend, and its own share of sign-ups that never buy.
* **Repeat purchasing (BG/NBD).** Fader, Hardie & Lee (2005), "Counting your customers the easy
  way", Marketing Science 24(2). While alive, a customer makes purchase days at Poisson rate
  ``lambda ~ Gamma(r, alpha)`` per week; after each *repeat* purchase day she drops out with
  probability ``p ~ Beta(a, b)``. ``r, alpha, a, b`` differ by acquisition channel.
* **Spend (Gamma-Gamma).** Fader & Hardie (2013), note 025. The value of a purchase day is
  ``z ~ Gamma(p, nu)`` (rate ``nu``) with ``nu ~ Gamma(q, gamma)`` (rate ``gamma``) per customer, so
  the mean value per purchase day is ``p * gamma / (q - 1)`` EUR.
* **Baskets.** A purchase day holds 1-4 order lines in seven categories with different price
  levels; the purchase-day value is split over the lines, so ``Quantity x Price`` summed over a
  purchase day equals ``z`` up to rounding to cents. A few purchase days are split into two orders
  on the same day (the same purchase day, two invoices).
* **Returns.** A few percent of lines (more in apparel and footwear) are returned 2-30 days later,
  as negative quantity on a cancellation invoice whose number starts with ``C``.
* **Win-back campaign.** Six months before the end, customers lapsed for 180+ days are randomised
  50/50 to treatment and control. Treatment raises the share that buys within 90 days by a known
  absolute uplift (4 percentage points), visible as extra orders of treated customers.
* **Events** (funnel: visit, product_view, signup, add_to_cart, email_open) for buyers before
  their first purchase, for registered prospects who never buy and for anonymous visitors.
* **NPS survey.** A sample of customers answers after a purchase; customers who later churn (no
  purchase in the following year) give lower scores. Comments are short free text (some contain ``<``, ``>``, ``&`` and quotes).

Time units and conventions: timestamps have no time zone; the window runs from ``start`` 00:00 to
``end`` 23:59:59 inclusive; model rates are per week (7 days). Purchases of one customer on one
calendar day form one purchase day (the unit the BG/NBD counts); a model purchase that lands on a
day the customer already bought on is moved to the next free day, so purchase days equal model
purchases. Returns are never purchases.
Column names in the files imitate real exports; ``run.yaml`` maps them onto the data contract.
The same seed gives byte-identical files (for the same numpy, pandas and pyarrow versions).
``docs/demo-business.md`` describes the business and the files for people.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from clc_lib.errors import ConfigError
from clc_lib.paths import raw_dir

__all__ = ["DEMO_CATEGORIES", "DEMO_CHANNELS", "DemoData", "generate_demo", "write_demo_data"]

DEFAULT_SEED = 20240601
DEFAULT_N_CUSTOMERS = 25_000
DEFAULT_START = "2022-01-01"
DEFAULT_END = "2024-12-31"
CURRENCY = "EUR"
#: Length of the model time unit (week) in days: r/alpha is a weekly purchase rate.
MODEL_TIME_UNIT_DAYS = 7.0
MIN_CUSTOMERS = 1_000
MIN_WINDOW_DAYS = 730
SECONDS_PER_DAY = 86_400
FIRST_INVOICE_NUMBER = 100_001

#: Acquisition channels, best customers first. ``share_start``/``share_end``: share of new buyers at
#: the start/end of the window (linear in between). ``r, alpha`` (alpha in weeks), ``a, b``: BG/NBD.
#: ``p, q, gamma`` (gamma in EUR): Gamma-Gamma spend per purchase day. ``signup_conversion``: share of
#: sign-ups that ever buy. ``cac``: true marketing spend per acquired buyer (EUR).
DEMO_CHANNELS: dict[str, dict[str, float]] = {
    "referral": dict(share_start=0.12, share_end=0.12, r=1.00, alpha=9.5, a=1.4, b=6.0,
                     p=6.0, q=4.0, gamma=40.0, signup_conversion=0.85, cac=15.0),
    "organic": dict(share_start=0.30, share_end=0.24, r=0.85, alpha=9.5, a=1.3, b=4.0,
                    p=6.0, q=4.0, gamma=35.0, signup_conversion=0.75, cac=6.0),
    "paid_search": dict(share_start=0.30, share_end=0.25, r=0.70, alpha=9.0, a=1.3, b=3.0,
                        p=6.0, q=4.0, gamma=32.0, signup_conversion=0.70, cac=38.0),
    "affiliate": dict(share_start=0.16, share_end=0.14, r=0.60, alpha=9.0, a=1.4, b=2.8,
                      p=5.0, q=4.0, gamma=33.0, signup_conversion=0.65, cac=25.0),
    "social": dict(share_start=0.12, share_end=0.25, r=0.50, alpha=9.0, a=1.5, b=2.5,
                   p=5.0, q=4.0, gamma=27.0, signup_conversion=0.50, cac=16.0),
}

#: Product categories: StockCode prefix, typical unit price (EUR), share of order lines, share of
#: lines returned, how many products the category has, and its gross margin (share of net revenue
#: left after the cost of goods; written to run.yaml's ``margin:`` section).
DEMO_CATEGORIES: dict[str, dict[str, float]] = {
    "Apparel": dict(code=21, unit_price=32.0, popularity=0.24, return_rate=0.080, n_products=60, gross_margin=0.45),
    "Footwear": dict(code=22, unit_price=68.0, popularity=0.12, return_rate=0.090, n_products=30, gross_margin=0.40),
    "Accessories": dict(code=23, unit_price=16.0, popularity=0.16, return_rate=0.025, n_products=40,
                        gross_margin=0.50),
    "Home": dict(code=24, unit_price=38.0, popularity=0.14, return_rate=0.020, n_products=40, gross_margin=0.40),
    "Beauty": dict(code=25, unit_price=19.0, popularity=0.16, return_rate=0.010, n_products=40, gross_margin=0.40),
    "Electronics": dict(code=26, unit_price=85.0, popularity=0.08, return_rate=0.035, n_products=20,
                        gross_margin=0.15),
    "Sports": dict(code=27, unit_price=42.0, popularity=0.10, return_rate=0.030, n_products=30, gross_margin=0.35),
}

#: Relative intensity of new buyers by calendar month (seasonality of acquisition).
MONTH_FACTORS = {1: 0.90, 2: 0.85, 3: 0.95, 4: 0.95, 5: 1.00, 6: 0.95,
                 7: 0.90, 8: 0.90, 9: 1.00, 10: 1.05, 11: 1.35, 12: 1.45}
#: Relative share of orders and events by hour of day (evening peak).
HOUR_WEIGHTS = (0.3, 0.15, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 1.6, 2.0, 2.3, 2.5,
                2.8, 2.7, 2.5, 2.4, 2.5, 2.8, 3.2, 3.6, 3.8, 3.4, 2.4, 1.0)
COUNTRIES = {"DE": 0.34, "FR": 0.20, "NL": 0.14, "ES": 0.10, "IT": 0.10, "AT": 0.06, "BE": 0.06}

ACQUISITION = dict(
    yearly_growth=0.35,           # growth of new buyers per year
    same_day_signup_share=0.55,   # buyers who sign up on the day of their first purchase
    signup_lead_mean_days=6.0,    # otherwise: days from sign-up to first purchase ~ 1 + Exp(mean)
    spend_noise_sd=0.12,          # log-normal noise of monthly spend around CAC x new buyers
)
BASKET = dict(
    extra_lines_base=0.45,        # extra lines ~ Poisson(base + value / value_per_line), at most 3
    value_per_line=70.0,
    home_category_share=0.6,      # first line from the customer's favourite category
    split_order_share=0.04,       # purchase days with 2+ lines placed as two orders that day
    app_share_start=0.20,         # sales channel "app" (else "web"), linear in time
    app_share_end=0.45,
    return_delay_days=(2, 30),
)
CAMPAIGN = dict(
    campaign_type="win_back",
    months_before_end=6,
    send_hour=9,
    lapse_days=180,               # eligible: no purchase in the 180 days before sent_at
    window_days=90,               # reactivation: a purchase within 90 days after sent_at
    true_uplift=0.04,             # absolute increase of the 90-day reactivation share
    response_delay_mean_days=14.0,
)
EVENTS = dict(
    visitors_per_customer=1.2,    # anonymous visitors who never sign up, per buyer
    visitor_view_share=0.55,
    visitor_cart_share=0.08,
    prospect_cart_share=0.35,
    email_opens_per_customer=0.8,
    visit_lead_mean_days=2.0,
)
SURVEY = dict(
    invite_share=0.06,            # purchase days followed by an invitation (frequent buyers answer more)
    min_days_before_end=21,
    churn_days=365,               # "churns later": no purchase in the year after answering
    response_delay_days=(2, 21),
    mean_score_staying=9.0,       # mean NPS (0-10) of respondents who buy again within a year
    mean_score_churning=6.8,      # ... of those who do not
    score_sd=1.6,
    comment_share=0.7,
)
NPS_GROUPS = ("detractor", "passive", "promoter")   # scores 0-6, 7-8, 9-10
REASONS = ("price", "delivery", "product quality", "service")
REASON_PROBABILITIES = {
    "detractor": (0.35, 0.30, 0.20, 0.15),
    "passive": (0.30, 0.25, 0.25, 0.20),
    "promoter": (0.15, 0.30, 0.40, 0.15),
}
COMMENTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("detractor", "price"): ("Too expensive for what you get", "Shipping costs > the item itself",
                             "Prices went up 10 € since last year"),
    ("detractor", "delivery"): ("Parcel arrived late & the box was damaged", "Waited two weeks for my order",
                                'Said "next day", took a week'),
    ("detractor", "product quality"): ("Shoes fell apart after a month", "Colour not as shown",
                                       "Cheap material"),
    ("detractor", "service"): ("Nobody answered my emails", "Refund took ages",
                               "Chat bot could not help"),
    ("passive", "price"): ("OK but cheaper elsewhere", "Good range, prices are 'ok'"),
    ("passive", "delivery"): ("Delivery fine, tracking could be better", "Arrived on time"),
    ("passive", "product quality"): ("Decent quality", "Sizes run small"),
    ("passive", "service"): ("Service was fine", "Return label was hard to find"),
    ("promoter", "price"): ("Great value", "Good deals in the sale"),
    ("promoter", "delivery"): ("<b>great</b> & fast", "Next-day delivery, as promised"),
    ("promoter", "product quality"): ("Lovely quality, will buy again", "Exactly as described"),
    ("promoter", "service"): ("Friendly support", "Exchange was quick & easy"),
}

#: File names and columns of the exports, and the run.yaml mapping onto the data contract.
FILES = {
    "transactions": ("transactions.parquet", {
        "customer_id": "CustomerID", "order_id": "Invoice", "timestamp": "InvoiceDate",
        "quantity": "Quantity", "unit_price": "Price", "product_id": "StockCode",
        "category": "Category", "channel": "Channel"}),
    "customers": ("customers.csv", {
        "customer_id": "customer_number", "first_seen": "created_at",
        "acquisition_channel": "acquisition_source"}),
    "spend": ("spend.csv", {"period_start": "Month", "channel": "Channel", "spend": "Spend"}),
    "events": ("events.parquet", {
        "person_id": "distinct_id", "customer_id": "user_id", "timestamp": "time",
        "event_type": "event", "channel": "utm_source"}),
    "campaigns": ("campaigns.csv", {
        "customer_id": "CustomerID", "campaign_id": "CampaignID", "sent_at": "SentAt",
        "group": "Group", "campaign_type": "CampaignType"}),
    "surveys": ("surveys.csv", {
        "customer_id": "CustomerID", "responded_at": "RespondedAt", "score": "NPS",
        "reason": "Reason", "comment": "Comment"}),
}
#: Extra customer attribute passed through unmapped (the loader keeps unmapped customer columns).
CUSTOMER_ATTRIBUTES = ("country",)
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

_STREAMS = ("acquisition", "behaviour", "campaign", "baskets", "events", "survey", "spend")


@dataclass
class DemoData:
    """The demo business in memory, in the layout of the exported files.

    Attributes
    ----------
    transactions
        One row per order line: Invoice (str; "C..." for returns), StockCode, Category,
        Quantity (int, negative on returns), Price (EUR per unit, > 0), InvoiceDate, CustomerID
        (zero-padded str), Channel (sales channel: web or app).
    customers
        One row per account: customer_number, created_at (sign-up), acquisition_source, country.
        Includes registered prospects who never buy.
    spend
        Month (first day), Channel, Spend (EUR).
    events
        distinct_id (customer id, or "V..." visitor id), user_id (null for anonymous visitors),
        time, event, utm_source.
    campaigns
        CustomerID, CampaignID, SentAt, Group (treatment/control), CampaignType.
    surveys
        CustomerID, RespondedAt, NPS (0-10), Reason, Comment (may be missing).
    truth
        The generating parameters and counts (what ``truth.json`` holds).
    customer_truth
        One row per buying customer: customer_id, channel, first_purchase, purchase_rate
        (per week), dropout_probability, mean_spend (EUR per purchase day), alive_at_end,
        dropout_at (last purchase of a customer who dropped out; NaT if alive), campaign_group,
        campaign_incremental (True if the campaign made this customer buy), survey_churns_later
        (respondents: no purchase in the year after answering; <NA> for non-respondents).
    """

    transactions: pd.DataFrame
    customers: pd.DataFrame
    spend: pd.DataFrame
    events: pd.DataFrame
    campaigns: pd.DataFrame
    surveys: pd.DataFrame
    truth: dict[str, Any]
    customer_truth: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """The six exported tables by contract table name."""
        return {name: getattr(self, name) for name in FILES}


# --------------------------------------------------------------------------------------------------
# Small vectorised helpers
# --------------------------------------------------------------------------------------------------

def _categorical(rng: np.random.Generator, probabilities: np.ndarray, size: int | None = None) -> np.ndarray:
    """Draw category indices; ``probabilities`` is one vector (``size`` draws) or one row per draw."""
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.ndim == 1:
        cumulative = np.cumsum(probabilities / probabilities.sum())
        draws = np.searchsorted(cumulative, rng.random(size), side="right")
        return np.minimum(draws, len(cumulative) - 1)
    cumulative = np.cumsum(probabilities / probabilities.sum(axis=1, keepdims=True), axis=1)
    draws = (cumulative <= rng.random(len(probabilities))[:, None]).sum(axis=1)
    return np.minimum(draws, probabilities.shape[1] - 1)


def _time_of_day(rng: np.random.Generator, size: int) -> np.ndarray:
    """Seconds after midnight, with the shop's hourly traffic profile."""
    hours = _categorical(rng, np.array(HOUR_WEIGHTS), size)
    return hours * 3600 + rng.integers(0, 3600, size)


def _zero_padded(numbers: np.ndarray, width: int) -> np.ndarray:
    return np.char.zfill(np.asarray(numbers).astype(str), width).astype(object)


def _group_starts(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def _timestamps(start: pd.Timestamp, seconds: np.ndarray) -> pd.Series:
    values = start.to_datetime64().astype("datetime64[s]") + np.asarray(seconds, dtype="int64").astype("timedelta64[s]")
    return pd.Series(values.astype("datetime64[us]"))


def _channel_table() -> pd.DataFrame:
    return pd.DataFrame.from_dict(DEMO_CHANNELS, orient="index")


def _channel_shares(day: np.ndarray, n_days: int) -> np.ndarray:
    """Channel mix of new buyers on each ``day`` (one row per day), linear from start to end shares."""
    channels = _channel_table()
    fraction = (np.asarray(day) / max(n_days - 1, 1))[:, None]
    start, end = channels["share_start"].to_numpy(), channels["share_end"].to_numpy()
    return start + fraction * (end - start)


def _parse_window(start: str | pd.Timestamp, end: str | pd.Timestamp | None) -> tuple[pd.Timestamp, pd.Timestamp]:
    try:
        start_day = pd.Timestamp(start).normalize()
        end_day = pd.Timestamp(end if end is not None else DEFAULT_END).normalize()
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"The demo window start={start!r}, end={end!r} is not a pair of dates: {exc}") from None
    if (end_day - start_day).days + 1 < MIN_WINDOW_DAYS:
        raise ConfigError(
            f"The demo window {start_day.date()} to {end_day.date()} is shorter than {MIN_WINDOW_DAYS} days; "
            "the win-back campaign needs a lapse period and a 90-day follow-up. Use a longer window."
        )
    return start_day, end_day


# --------------------------------------------------------------------------------------------------
# Simulation steps
# --------------------------------------------------------------------------------------------------

def _acquire(rng: np.random.Generator, n_customers: int, start: pd.Timestamp, n_days: int) -> dict[str, np.ndarray]:
    """First purchase, channel and sign-up of buyers, plus registered prospects who never buy."""
    channels = _channel_table()
    days = pd.date_range(start, periods=n_days, freq="D")
    season = np.array([MONTH_FACTORS[m] for m in range(1, 13)])[days.month - 1]
    day_weights = np.exp(np.log1p(ACQUISITION["yearly_growth"]) * np.arange(n_days) / 365.25) * season

    first_day = _categorical(rng, day_weights, n_customers)
    first_seconds = first_day * SECONDS_PER_DAY + _time_of_day(rng, n_customers)
    channel = _categorical(rng, _channel_shares(first_day, n_days))
    lead_days = np.where(rng.random(n_customers) < ACQUISITION["same_day_signup_share"], 0,
                         1 + np.floor(rng.exponential(ACQUISITION["signup_lead_mean_days"], n_customers)))
    signup_seconds = (first_seconds - lead_days * SECONDS_PER_DAY
                      - rng.integers(10 * 60, 60 * 60, n_customers)).astype("int64")

    # Registered prospects: per buyer of a channel, (1 - conversion) / conversion sign-ups that never buy.
    conversion = channels["signup_conversion"].to_numpy()
    weight = ((1 - conversion) / conversion)[channel]
    n_prospects = int(round(weight.sum()))
    twin = rng.choice(n_customers, size=n_prospects, p=weight / weight.sum())
    prospect_day = np.clip(first_day[twin] + rng.integers(-15, 16, n_prospects), 0, n_days - 1)
    prospect_seconds = prospect_day * SECONDS_PER_DAY + _time_of_day(rng, n_prospects)
    return dict(
        day_weights=day_weights, first_day=first_day, first_seconds=first_seconds, channel=channel,
        signup_seconds=signup_seconds, prospect_channel=channel[twin], prospect_seconds=prospect_seconds,
    )


def _natural_purchases(rng: np.random.Generator, acquired: dict[str, np.ndarray], n_days: int,
                       future_days: int) -> dict[str, np.ndarray]:
    """BG/NBD purchase days (first purchase included) and the Gamma-Gamma rate of each buyer.

    Repeat purchase times are Poisson arrivals at the customer's weekly rate from the first purchase
    to ``future_days`` after the end of the window; the customer drops out right after repeat number
    ``K ~ Geometric(p)``, so the purchases made are the first ``min(N, K)`` arrivals. She is alive at
    the end if ``K`` exceeds the arrivals up to the end. An arrival on a day the customer already
    bought on moves to the next free day. Purchases after the end are returned apart (``future_*``):
    they never reach the data but tell whether a survey respondent buys again.
    """
    channels = _channel_table()
    channel = acquired["channel"]
    n = len(channel)
    rate = rng.gamma(channels["r"].to_numpy()[channel], 1.0 / channels["alpha"].to_numpy()[channel])
    dropout = rng.beta(channels["a"].to_numpy()[channel], channels["b"].to_numpy()[channel])
    spend_rate = rng.gamma(channels["q"].to_numpy()[channel], 1.0 / channels["gamma"].to_numpy()[channel])

    first_days = acquired["first_seconds"] / SECONDS_PER_DAY
    horizon_weeks = (n_days + future_days - first_days) / MODEL_TIME_UNIT_DAYS
    n_arrivals = rng.poisson(rate * horizon_weeks)
    repeats_until_dropout = rng.geometric(dropout)
    owner = np.repeat(np.arange(n), n_arrivals)
    weeks = rng.random(len(owner)) * horizon_weeks[owner]
    order = np.lexsort((weeks, owner))
    owner, weeks = owner[order], weeks[order]
    rank = np.arange(len(owner)) - np.repeat(_group_starts(n_arrivals), n_arrivals)
    kept = rank < repeats_until_dropout[owner]
    before_end = first_days[owner] + weeks * MODEL_TIME_UNIT_DAYS < n_days
    alive = repeats_until_dropout > np.bincount(owner[before_end], minlength=n)
    owner, weeks = owner[kept], weeks[kept]
    repeat_day = np.floor(first_days[owner] + weeks * MODEL_TIME_UNIT_DAYS).astype("int64")
    repeat_seconds = repeat_day * SECONDS_PER_DAY + _time_of_day(rng, len(owner))

    customer = np.concatenate([np.arange(n), owner])
    seconds = np.concatenate([acquired["first_seconds"], repeat_seconds]).astype("int64")
    is_repeat = np.concatenate([np.zeros(n), np.ones(len(owner))])
    customer, seconds = _distinct_days(customer, seconds, n_days + future_days, priority=is_repeat)
    in_data = seconds < n_days * SECONDS_PER_DAY
    return dict(rate=rate, dropout=dropout, spend_rate=spend_rate, alive=alive,
                customer=customer[in_data], seconds=seconds[in_data],
                future_customer=customer[~in_data], future_seconds=seconds[~in_data])


def _distinct_days(customer: np.ndarray, seconds: np.ndarray, n_days: int,
                   priority: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sort by customer and day and move a purchase that lands on an earlier purchase's day to the next free day.

    The model counts purchase *days*; moving (rather than merging) same-day draws keeps the number
    of purchase days equal to the number of model purchases. Within a day, lower ``priority``
    comes first (the first purchase stays first even when a repeat draw has an earlier hour).
    The rare purchase pushed past the last day is dropped.
    """
    day, time_of_day = np.divmod(seconds, SECONDS_PER_DAY)
    order = np.lexsort((time_of_day, np.zeros(len(day)) if priority is None else priority, day, customer))
    customer, day, time_of_day = customer[order], day[order], time_of_day[order]
    first = np.ones(len(customer), dtype=bool)
    first[1:] = customer[1:] != customer[:-1]
    starts = np.flatnonzero(first)
    rank = np.arange(len(customer)) - np.repeat(starts, np.diff(np.append(starts, len(customer))))
    # Within a customer, day_k >= day_{k-1} + 1  <=>  (day - rank) is non-decreasing: a running
    # maximum of day - rank per customer (customers kept apart by a large offset).
    separation = 4 * (n_days + len(customer))
    slack = np.maximum.accumulate(day - rank + customer * separation) - customer * separation
    day = slack + rank
    inside = day < n_days
    return customer[inside], (day * SECONDS_PER_DAY + time_of_day)[inside]


def _win_back_campaign(rng: np.random.Generator, purchases: dict[str, np.ndarray], n_customers: int,
                       sent_seconds: int) -> dict[str, Any]:
    """Randomise lapsed buyers 50/50 and add the orders the campaign causes.

    Eligible: at least one purchase, none in the ``lapse_days`` before ``sent_at``. Treatment
    makes exactly ``round(true_uplift x n_treatment)`` treated customers who would not have bought
    in the window buy once within it, so the treated group's 90-day reactivation share exceeds its
    counterfactual share by the true uplift (to rounding).
    """
    customer, seconds = purchases["customer"], purchases["seconds"]
    lapse_seconds = CAMPAIGN["lapse_days"] * SECONDS_PER_DAY
    window_seconds = CAMPAIGN["window_days"] * SECONDS_PER_DAY
    last_before = np.full(n_customers, -1, dtype="int64")
    before = seconds < sent_seconds
    np.maximum.at(last_before, customer[before], seconds[before])
    eligible = np.flatnonzero((last_before >= 0) & (last_before <= sent_seconds - lapse_seconds))
    in_window = (seconds > sent_seconds) & (seconds <= sent_seconds + window_seconds)
    natural_reactivation = np.zeros(n_customers, dtype=bool)
    natural_reactivation[customer[in_window]] = True

    shuffled = rng.permutation(eligible)
    n_treatment = len(shuffled) // 2
    treatment, control = np.sort(shuffled[:n_treatment]), np.sort(shuffled[n_treatment:])
    would_not_buy = treatment[~natural_reactivation[treatment]]
    n_incremental = int(round(CAMPAIGN["true_uplift"] * n_treatment))
    incremental = np.sort(rng.choice(would_not_buy, size=n_incremental, replace=False))
    # Response day 1..89 after the send day (truncated exponential), any time of day.
    mean_days = CAMPAIGN["response_delay_mean_days"]
    span = CAMPAIGN["window_days"] - 1
    u = rng.random(n_incremental)
    delay_days = np.floor(-mean_days * np.log1p(-u * (1 - np.exp(-span / mean_days)))).astype("int64")
    sent_day = sent_seconds // SECONDS_PER_DAY
    incremental_seconds = (sent_day + 1 + np.minimum(delay_days, span - 1)) * SECONDS_PER_DAY \
        + _time_of_day(rng, n_incremental)
    group = np.full(n_customers, "", dtype=object)
    group[treatment], group[control] = "treatment", "control"
    return dict(
        treatment=treatment, control=control, group=group, incremental=incremental,
        incremental_seconds=incremental_seconds.astype("int64"),
        control_rate=float(natural_reactivation[control].mean()) if len(control) else float("nan"),
        treatment_counterfactual_rate=float(natural_reactivation[treatment].mean()) if n_treatment else float("nan"),
        treatment_rate=float((natural_reactivation[treatment].sum() + n_incremental) / n_treatment)
        if n_treatment else float("nan"),
    )


def _order_lines(rng: np.random.Generator, customer: np.ndarray, seconds: np.ndarray, channel: np.ndarray,
                 spend_rate: np.ndarray, home_category: np.ndarray, n_days: int) -> dict[str, np.ndarray]:
    """Split each purchase day's Gamma-Gamma value over 1-4 lines; split a few days into two orders."""
    channels = _channel_table()
    categories = pd.DataFrame.from_dict(DEMO_CATEGORIES, orient="index")
    n_purchase_days = len(customer)
    value = rng.gamma(channels["p"].to_numpy()[channel[customer]], 1.0 / spend_rate[customer])
    n_lines = 1 + np.minimum(rng.poisson(BASKET["extra_lines_base"] + value / BASKET["value_per_line"]), 3)
    purchase_day = np.repeat(np.arange(n_purchase_days), n_lines)
    starts = _group_starts(n_lines)
    line_number = np.arange(len(purchase_day)) - np.repeat(starts, n_lines)
    n = len(purchase_day)

    popular = _categorical(rng, categories["popularity"].to_numpy(), n)
    from_home = (line_number == 0) & (rng.random(n) < BASKET["home_category_share"])
    category = np.where(from_home, home_category[customer[purchase_day]], popular)
    typical_price = categories["unit_price"].to_numpy()[category]
    weight = typical_price * rng.gamma(4.0, 1.0, n)
    line_value = value[purchase_day] * weight / np.add.reduceat(weight, starts)[purchase_day]
    quantity = np.clip(np.rint(line_value / (typical_price * rng.uniform(0.75, 1.35, n))), 1, 8).astype("int64")
    n_products = categories["n_products"].to_numpy().astype("int64")[category]
    product = np.minimum(np.floor(n_products * rng.random(n) ** 2.2), n_products - 1).astype("int64")
    stock_code = categories["code"].to_numpy().astype("int64")[category] * 1000 + product

    # Two orders on one day: the second half of the lines, 10 min to 3 h later the same day.
    offset = rng.integers(10 * 60, 3 * 3600, n_purchase_days)
    fits_in_day = seconds % SECONDS_PER_DAY + offset < SECONDS_PER_DAY
    split = (n_lines >= 2) & fits_in_day & (rng.random(n_purchase_days) < BASKET["split_order_share"])
    second_order = split[purchase_day] & (line_number >= np.ceil(n_lines / 2)[purchase_day])
    second_seconds = seconds + offset
    order_key = purchase_day * 2 + second_order
    order_key_unique, line_order = np.unique(order_key, return_inverse=True)
    # One line per product and order: lines that drew the same product are merged.
    line_key = line_order.astype("int64") * 100_000 + stock_code
    _, first_line, merged = np.unique(line_key, return_index=True, return_inverse=True)
    line_value = np.bincount(merged, weights=line_value)
    quantity = np.bincount(merged, weights=quantity).astype("int64")
    price = np.maximum(np.round(line_value / quantity, 2), 0.01)
    line_order, category, stock_code = line_order[first_line], category[first_line], stock_code[first_line]
    order_purchase_day = order_key_unique // 2
    order_seconds = np.where(order_key_unique % 2 == 1, second_seconds[order_purchase_day],
                             seconds[order_purchase_day])
    app_share = BASKET["app_share_start"] + (BASKET["app_share_end"] - BASKET["app_share_start"]) * (
        order_seconds / (n_days * SECONDS_PER_DAY))
    order_channel = np.where(rng.random(len(order_key_unique)) < app_share, "app", "web").astype(object)
    return dict(
        value=value, order_customer=customer[order_purchase_day], order_seconds=order_seconds.astype("int64"),
        order_channel=order_channel, line_order=line_order, category=category, quantity=quantity, price=price,
        stock_code=stock_code,
    )


def _returns(rng: np.random.Generator, lines: dict[str, np.ndarray], end_seconds: int) -> dict[str, np.ndarray]:
    """Returned lines: one cancellation per order and return date, partial quantities allowed."""
    return_rate = pd.DataFrame.from_dict(DEMO_CATEGORIES, orient="index")["return_rate"].to_numpy()
    n_orders = len(lines["order_seconds"])
    low, high = BASKET["return_delay_days"]
    return_seconds = lines["order_seconds"] + rng.integers(low * SECONDS_PER_DAY, high * SECONDS_PER_DAY, n_orders)
    returned = rng.random(len(lines["line_order"])) < return_rate[lines["category"]]
    returned &= return_seconds[lines["line_order"]] < end_seconds
    line = np.flatnonzero(returned)
    quantity = rng.integers(1, lines["quantity"][line] + 1)
    return dict(line=line, quantity=quantity, seconds=return_seconds)


def _invoice_ranks(seconds: np.ndarray) -> np.ndarray:
    """Position of each invoice in one till sequence ordered by time (ties keep input order)."""
    rank = np.empty(len(seconds), dtype="int64")
    rank[np.argsort(seconds, kind="stable")] = np.arange(len(seconds))
    return rank


def _events(rng: np.random.Generator, acquired: dict[str, np.ndarray], account_id: np.ndarray,
            n_days: int, end_seconds: int) -> pd.DataFrame:
    """Funnel events of buyers (before the first purchase), registered prospects and anonymous visitors.

    Identities are stitched: every event of a person who has an account carries the account's id as
    both ``distinct_id`` and ``user_id``; visitors who never sign up have a "V..." id and no user_id.
    """
    channel_names = np.array(list(DEMO_CHANNELS), dtype=object)
    n_buyers = len(acquired["channel"])
    n_prospects = len(acquired["prospect_channel"])
    lead = EVENTS["visit_lead_mean_days"] * SECONDS_PER_DAY
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, str, np.ndarray]] = []

    def add(person: np.ndarray, seconds: np.ndarray, event: str, channel: np.ndarray, is_account: bool) -> None:
        parts.append((person, np.asarray(seconds, dtype="int64"), np.asarray(channel, dtype=object), event,
                      np.full(len(person), is_account)))

    # Buyers: visit, 1-3 product views, sign-up, add to cart minutes before the first purchase, email opens.
    buyer_id = account_id[:n_buyers]
    buyer_channel = channel_names[acquired["channel"]]
    signup, first = acquired["signup_seconds"], acquired["first_seconds"]
    visit = signup - rng.exponential(lead, n_buyers).astype("int64") - rng.integers(60, 1800, n_buyers)
    add(buyer_id, visit, "visit", buyer_channel, True)
    n_views = 1 + rng.binomial(2, 0.5, n_buyers)
    viewer = np.repeat(np.arange(n_buyers), n_views)
    view_seconds = visit[viewer] + (rng.random(len(viewer)) * (first[viewer] - 120 - visit[viewer])).astype("int64")
    add(buyer_id[viewer], view_seconds, "product_view", buyer_channel[viewer], True)
    add(buyer_id, signup, "signup", buyer_channel, True)
    add(buyer_id, first - rng.integers(60, 540, n_buyers), "add_to_cart", buyer_channel, True)
    n_opens = rng.poisson(EVENTS["email_opens_per_customer"], n_buyers)
    opener = np.repeat(np.arange(n_buyers), n_opens)
    open_seconds = first[opener] + (rng.random(len(opener)) * (end_seconds - first[opener])).astype("int64")
    add(buyer_id[opener], open_seconds, "email_open", np.full(len(opener), "email", dtype=object), True)

    # Registered prospects: visit, views, sign-up, sometimes a cart; never a purchase.
    prospect_id = account_id[n_buyers:]
    prospect_channel = channel_names[acquired["prospect_channel"]]
    p_signup = acquired["prospect_seconds"]
    p_visit = p_signup - rng.exponential(lead, n_prospects).astype("int64") - rng.integers(60, 1800, n_prospects)
    add(prospect_id, p_visit, "visit", prospect_channel, True)
    n_views = rng.binomial(3, 0.5, n_prospects)
    viewer = np.repeat(np.arange(n_prospects), n_views)
    add(prospect_id[viewer], p_visit[viewer] + rng.integers(30, 3 * SECONDS_PER_DAY, len(viewer)),
        "product_view", prospect_channel[viewer], True)
    add(prospect_id, p_signup, "signup", prospect_channel, True)
    carted = np.flatnonzero(rng.random(n_prospects) < EVENTS["prospect_cart_share"])
    add(prospect_id[carted], p_signup[carted] + rng.integers(60, 3 * SECONDS_PER_DAY, len(carted)),
        "add_to_cart", prospect_channel[carted], True)

    # Anonymous visitors who never sign up.
    n_visitors = int(round(EVENTS["visitors_per_customer"] * n_buyers))
    visitor_id = np.char.add("V", np.char.zfill(np.arange(1, n_visitors + 1).astype(str), 7)).astype(object)
    v_day = _categorical(rng, acquired["day_weights"], n_visitors)
    v_seconds = v_day * SECONDS_PER_DAY + _time_of_day(rng, n_visitors)
    v_channel = channel_names[_categorical(rng, _channel_shares(v_day, n_days))]
    add(visitor_id, v_seconds, "visit", v_channel, False)
    n_views = np.where(rng.random(n_visitors) < EVENTS["visitor_view_share"], 1 + rng.binomial(1, 0.5, n_visitors), 0)
    viewer = np.repeat(np.arange(n_visitors), n_views)
    add(visitor_id[viewer], v_seconds[viewer] + rng.integers(20, 1800, len(viewer)), "product_view",
        v_channel[viewer], False)
    carted = np.flatnonzero(rng.random(n_visitors) < EVENTS["visitor_cart_share"])
    add(visitor_id[carted], v_seconds[carted] + rng.integers(1800, 3600, len(carted)), "add_to_cart",
        v_channel[carted], False)

    person = np.concatenate([p[0] for p in parts])
    seconds = np.concatenate([p[1] for p in parts])
    channel = np.concatenate([p[2] for p in parts])
    event = np.concatenate([np.full(len(p[0]), p[3], dtype=object) for p in parts])
    is_account = np.concatenate([p[4] for p in parts])
    keep = seconds < end_seconds
    order = np.lexsort((np.arange(len(seconds)), seconds))
    order = order[keep[order]]
    names = FILES["events"][1]
    return pd.DataFrame({
        names["person_id"]: person[order],
        names["customer_id"]: np.where(is_account[order], person[order], None),
        names["timestamp"]: seconds[order],
        names["event_type"]: event[order],
        names["channel"]: channel[order],
    })


def _survey(rng: np.random.Generator, customer: np.ndarray, seconds: np.ndarray, future_customer: np.ndarray,
            future_seconds: np.ndarray, n_customers: int, end_seconds: int) -> dict[str, np.ndarray]:
    """NPS responses 2-21 days after a purchase day; a customer answers at most once.

    Each purchase day at least ``min_days_before_end`` before the end is followed by an invitation
    with probability ``invite_share``; a customer with several invitations answers one of them,
    chosen at random.

    ``customer`` and ``seconds`` are the purchase days in the data, sorted by customer and time;
    ``future_*`` are the model's purchases after the end. A respondent *churns later* when she makes
    no purchase in the ``churn_days`` after answering; churners score lower on average.
    """
    invited = rng.random(len(customer)) < SURVEY["invite_share"]
    candidate = np.flatnonzero(invited & (seconds <= end_seconds - SURVEY["min_days_before_end"] * SECONDS_PER_DAY))
    shuffled = candidate[rng.permutation(len(candidate))]
    _, first = np.unique(customer[shuffled], return_index=True)
    chosen = shuffled[first]
    respondent = customer[chosen]
    low, high = SURVEY["response_delay_days"]
    responded = seconds[chosen] + rng.integers(low * SECONDS_PER_DAY, high * SECONDS_PER_DAY, len(chosen))
    every_customer = np.concatenate([customer, future_customer])
    every_second = np.concatenate([seconds, future_seconds])
    stride = int(every_second.max()) + 1
    key = np.sort(every_customer.astype("int64") * stride + every_second)
    following = np.searchsorted(key, respondent.astype("int64") * stride + responded, side="right")
    next_key = key[np.minimum(following, len(key) - 1)]
    buys_again = ((following < len(key)) & (next_key // stride == respondent)
                  & (next_key % stride <= responded + SURVEY["churn_days"] * SECONDS_PER_DAY))
    churns_later = ~buys_again
    mean = np.where(churns_later, SURVEY["mean_score_churning"], SURVEY["mean_score_staying"])
    score = np.clip(np.rint(rng.normal(mean, SURVEY["score_sd"])), 0, 10).astype("int64")
    group = np.searchsorted([7, 9], score, side="right")        # 0-6, 7-8, 9-10
    reason_probabilities = np.array([REASON_PROBABILITIES[g] for g in NPS_GROUPS])
    reason = _categorical(rng, reason_probabilities[group])
    templates = [(g, r) for g in NPS_GROUPS for r in REASONS]
    counts = np.array([len(COMMENTS[key]) for key in templates])
    texts = np.array([text for key in templates for text in COMMENTS[key]], dtype=object)
    combination = group * len(REASONS) + reason
    pick = _group_starts(counts)[combination] + np.floor(rng.random(len(chosen)) * counts[combination]).astype("int64")
    comment = np.where(rng.random(len(chosen)) < SURVEY["comment_share"], texts[pick], None)
    order = np.lexsort((respondent, responded))
    return dict(customer=respondent[order], seconds=responded[order], score=score[order],
                reason=np.array(REASONS, dtype=object)[reason][order], comment=comment[order],
                churns_later=churns_later[order])


def _spend(rng: np.random.Generator, acquired: dict[str, np.ndarray], start: pd.Timestamp,
           end: pd.Timestamp) -> pd.DataFrame:
    """Monthly spend per channel: true CAC x new buyers of the month x log-normal noise."""
    months = pd.date_range(start.to_period("M").to_timestamp(), end, freq="MS")
    day_month = pd.date_range(start, end, freq="D").to_period("M").to_timestamp()
    month_of_day = months.get_indexer(day_month)
    n_new = np.zeros((len(months), len(DEMO_CHANNELS)))
    np.add.at(n_new, (month_of_day[acquired["first_day"]], acquired["channel"]), 1)
    cac = _channel_table()["cac"].to_numpy()
    noise = rng.lognormal(0.0, ACQUISITION["spend_noise_sd"], n_new.shape)
    names = FILES["spend"][1]
    return pd.DataFrame({
        names["period_start"]: np.repeat(months.strftime("%Y-%m-%d").to_numpy(), len(DEMO_CHANNELS)),
        names["channel"]: np.tile(list(DEMO_CHANNELS), len(months)),
        names["spend"]: np.round(n_new * cac * noise, 2).ravel(),
    }).assign(**{names["period_start"]: lambda frame: pd.to_datetime(frame[names["period_start"]])})


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------

def generate_demo(*, seed: int = DEFAULT_SEED, n_customers: int = DEFAULT_N_CUSTOMERS,
                  start: str | pd.Timestamp = DEFAULT_START, end: str | pd.Timestamp | None = DEFAULT_END,
                  ) -> DemoData:
    """Simulate the demo business in memory (no files).

    Parameters
    ----------
    seed
        Seed of the numpy Generators; the same seed gives identical frames.
    n_customers
        Number of *buying* customers (at least 1,000). Registered prospects who never buy and
        anonymous visitors come on top, in proportion.
    start, end
        First and last calendar day of the history (both included; at least 730 days apart).

    Returns
    -------
    DemoData
        The six tables in their export layout (see :class:`DemoData`), the truth as written to
        ``truth.json`` and one row of true parameters per buying customer.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"The demo seed must be a non-negative integer, got {seed!r}.")
    if isinstance(n_customers, bool) or not isinstance(n_customers, (int, np.integer)) or n_customers < MIN_CUSTOMERS:
        raise ConfigError(f"n_customers must be an integer >= {MIN_CUSTOMERS:,} (the campaign needs "
                          f"enough lapsed customers), got {n_customers!r}.")
    n_customers = int(n_customers)
    start_day, end_day = _parse_window(start, end)
    n_days = (end_day - start_day).days + 1
    end_seconds = n_days * SECONDS_PER_DAY
    rng = {name: np.random.default_rng([int(seed), index]) for index, name in enumerate(_STREAMS)}
    channel_names = np.array(list(DEMO_CHANNELS), dtype=object)
    category_names = np.array(list(DEMO_CATEGORIES), dtype=object)

    acquired = _acquire(rng["acquisition"], n_customers, start_day, n_days)
    natural = _natural_purchases(rng["behaviour"], acquired, n_days, SURVEY["churn_days"])
    sent_at = end_day - pd.DateOffset(months=CAMPAIGN["months_before_end"]) + pd.Timedelta(days=1, hours=CAMPAIGN["send_hour"])
    sent_seconds = int((sent_at - start_day).total_seconds())
    campaign = _win_back_campaign(rng["campaign"], natural, n_customers, sent_seconds)
    # Campaign orders fall strictly inside the window where these customers have no purchase.
    customer, seconds = _distinct_days(np.concatenate([natural["customer"], campaign["incremental"]]),
                                       np.concatenate([natural["seconds"], campaign["incremental_seconds"]]), n_days)

    popularity = pd.DataFrame.from_dict(DEMO_CATEGORIES, orient="index")["popularity"].to_numpy()
    home_category = _categorical(rng["baskets"], popularity, n_customers)
    lines = _order_lines(rng["baskets"], customer, seconds, acquired["channel"], natural["spend_rate"],
                         home_category, n_days)
    returns = _returns(rng["baskets"], lines, end_seconds)

    # Account ids in order of sign-up; buyers come first in the arrays, then registered prospects.
    signup_seconds = np.concatenate([acquired["signup_seconds"], acquired["prospect_seconds"]])
    n_accounts = len(signup_seconds)
    id_width = max(6, len(str(n_accounts)))
    account_id = _zero_padded(1 + _invoice_ranks(signup_seconds), id_width)

    # Invoices: orders and cancellations share one number sequence in time order.
    order_of_line = lines["line_order"]
    return_order = np.unique(order_of_line[returns["line"]])
    return_seconds = returns["seconds"][return_order]
    rank = _invoice_ranks(np.concatenate([lines["order_seconds"], return_seconds]))
    invoice_number = FIRST_INVOICE_NUMBER + rank
    order_invoice = invoice_number[: len(lines["order_seconds"])]
    return_invoice = invoice_number[len(lines["order_seconds"]):]
    returned_line = returns["line"]
    return_index = np.searchsorted(return_order, order_of_line[returned_line])

    n_sales, n_returned = len(order_of_line), len(returned_line)
    sort_seconds = np.concatenate([lines["order_seconds"][order_of_line], return_seconds[return_index]])
    sort_invoice = np.concatenate([order_invoice[order_of_line], return_invoice[return_index]])
    order = np.lexsort((np.arange(n_sales + n_returned), sort_invoice, sort_seconds))
    names = FILES["transactions"][1]
    prefix = np.concatenate([np.full(n_sales, "", dtype=object), np.full(n_returned, "C", dtype=object)])
    line_source = np.concatenate([np.arange(n_sales), returned_line])
    transactions = pd.DataFrame({
        names["order_id"]: (prefix + sort_invoice.astype(str).astype(object))[order],
        names["product_id"]: lines["stock_code"][line_source].astype(str).astype(object)[order],
        names["category"]: category_names[lines["category"][line_source]][order],
        names["quantity"]: np.concatenate([lines["quantity"], -returns["quantity"]])[order],
        names["unit_price"]: lines["price"][line_source][order],
        names["timestamp"]: _timestamps(start_day, sort_seconds[order]),
        names["customer_id"]: account_id[lines["order_customer"][order_of_line[line_source]]][order],
        names["channel"]: lines["order_channel"][order_of_line[line_source]][order],
    })

    customer_names = FILES["customers"][1]
    account_channel = channel_names[np.concatenate([acquired["channel"], acquired["prospect_channel"]])]
    country = np.array(list(COUNTRIES), dtype=object)[
        _categorical(rng["acquisition"], np.array(list(COUNTRIES.values())), n_accounts)]
    by_id = np.argsort(account_id, kind="stable")
    customers = pd.DataFrame({
        customer_names["customer_id"]: account_id[by_id],
        customer_names["first_seen"]: _timestamps(start_day, signup_seconds[by_id]),
        customer_names["acquisition_channel"]: account_channel[by_id],
        CUSTOMER_ATTRIBUTES[0]: country[by_id],
    })

    events = _events(rng["events"], acquired, account_id, n_days, end_seconds)
    event_time = FILES["events"][1]["timestamp"]
    events[event_time] = _timestamps(start_day, events[event_time].to_numpy())

    campaign_id = f"WB{sent_at:%Y%m}"
    members = np.concatenate([campaign["treatment"], campaign["control"]])
    members = members[np.argsort(account_id[members], kind="stable")]
    campaign_names = FILES["campaigns"][1]
    campaigns = pd.DataFrame({
        campaign_names["customer_id"]: account_id[members],
        campaign_names["campaign_id"]: campaign_id,
        campaign_names["sent_at"]: pd.Series(np.full(len(members), sent_at.to_datetime64())).astype("datetime64[us]"),
        campaign_names["group"]: campaign["group"][members],
        campaign_names["campaign_type"]: CAMPAIGN["campaign_type"],
    })

    survey = _survey(rng["survey"], customer, seconds, natural["future_customer"], natural["future_seconds"],
                     n_customers, end_seconds)
    survey_names = FILES["surveys"][1]
    surveys = pd.DataFrame({
        survey_names["customer_id"]: account_id[survey["customer"]],
        survey_names["responded_at"]: _timestamps(start_day, survey["seconds"]),
        survey_names["score"]: survey["score"],
        survey_names["reason"]: survey["reason"],
        survey_names["comment"]: survey["comment"],
    })

    spend = _spend(rng["spend"], acquired, start_day, end_day)

    last_natural = np.zeros(n_customers, dtype="int64")
    np.maximum.at(last_natural, natural["customer"], natural["seconds"])
    incremental = np.zeros(n_customers, dtype=bool)
    incremental[campaign["incremental"]] = True
    survey_churn = pd.array(np.full(n_customers, pd.NA), dtype="boolean")
    survey_churn[survey["customer"]] = survey["churns_later"]
    customer_truth = pd.DataFrame({
        "customer_id": account_id[:n_customers],
        "channel": channel_names[acquired["channel"]],
        "first_purchase": _timestamps(start_day, acquired["first_seconds"]),
        "purchase_rate": natural["rate"],
        "dropout_probability": natural["dropout"],
        "mean_spend": np.array([DEMO_CHANNELS[c]["p"] for c in DEMO_CHANNELS])[acquired["channel"]]
        / natural["spend_rate"],
        "alive_at_end": natural["alive"],
        "dropout_at": _timestamps(start_day, last_natural).where(~natural["alive"]),
        "campaign_group": np.where(campaign["group"] == "", None, campaign["group"]),
        "campaign_incremental": incremental,
        "survey_churns_later": survey_churn,
    }).sort_values("customer_id", ignore_index=True)

    truth = _truth(seed=int(seed), start=start_day, end=end_day, sent_at=sent_at, campaign_id=campaign_id,
                   campaign=campaign, n_customers=n_customers, n_prospects=len(acquired["prospect_seconds"]),
                   transactions=transactions, events=events, surveys=surveys, lines=lines,
                   n_purchase_days=len(customer), alive=natural["alive"], survey_churn=survey["churns_later"])
    return DemoData(transactions=transactions, customers=customers, spend=spend, events=events,
                    campaigns=campaigns, surveys=surveys, truth=truth, customer_truth=customer_truth)


def _truth(*, seed: int, start: pd.Timestamp, end: pd.Timestamp, sent_at: pd.Timestamp, campaign_id: str,
           campaign: dict[str, Any], n_customers: int, n_prospects: int, transactions: pd.DataFrame,
           events: pd.DataFrame, surveys: pd.DataFrame, lines: dict[str, np.ndarray], n_purchase_days: int,
           alive: np.ndarray, survey_churn: np.ndarray) -> dict[str, Any]:
    names = FILES["transactions"][1]
    is_return = transactions[names["order_id"]].str.startswith("C")
    channels = {}
    for name, spec in DEMO_CHANNELS.items():
        channels[name] = {key: float(value) for key, value in spec.items()} | {
            "mean_purchase_rate_per_week": spec["r"] / spec["alpha"],
            "mean_dropout_probability": spec["a"] / (spec["a"] + spec["b"]),
            "mean_purchase_day_value": spec["p"] * spec["gamma"] / (spec["q"] - 1),
        }
    return {
        "name": "demo",
        "seed": seed,
        "start": f"{start:%Y-%m-%d}",
        "end": f"{end:%Y-%m-%d}",
        "currency": CURRENCY,
        "time_unit": "W",
        "model": {
            "purchases": "BG/NBD: purchase days at rate lambda ~ Gamma(r, alpha) per week while alive; "
                         "drop-out after each repeat purchase day with probability p ~ Beta(a, b)",
            "spend": "Gamma-Gamma: purchase-day value z ~ Gamma(p, nu), nu ~ Gamma(q, gamma); "
                     "mean value p * gamma / (q - 1) in EUR",
            "units": "alpha in weeks (r / alpha = purchase days per week); gamma in EUR; "
                     "cac in EUR per acquired buyer",
            "purchase_day": "all purchases of a customer on one calendar day; returns are not purchases",
        },
        "channels": channels,
        "channels_by_quality": list(DEMO_CHANNELS),
        "categories": {name: {key: float(value) for key, value in spec.items()}
                       for name, spec in DEMO_CATEGORIES.items()},
        "campaign": {
            "campaign_id": campaign_id,
            "campaign_type": CAMPAIGN["campaign_type"],
            "sent_at": f"{sent_at:%Y-%m-%d %H:%M:%S}",
            "eligibility": f"at least one purchase and none in the {CAMPAIGN['lapse_days']} days before sent_at",
            "outcome": f"at least one purchase in the {CAMPAIGN['window_days']} days after sent_at",
            "lapse_days": CAMPAIGN["lapse_days"],
            "window_days": CAMPAIGN["window_days"],
            "true_uplift": CAMPAIGN["true_uplift"],
            "n_treatment": len(campaign["treatment"]),
            "n_control": len(campaign["control"]),
            "n_incremental_customers": len(campaign["incremental"]),
            "control_reactivation_rate": round(campaign["control_rate"], 6),
            "treatment_reactivation_rate": round(campaign["treatment_rate"], 6),
            "treatment_rate_without_campaign": round(campaign["treatment_counterfactual_rate"], 6),
        },
        "survey": {
            "later_churn": f"no purchase in the {SURVEY['churn_days']} days after answering (the simulation "
                           "runs on past the end of the data to know this)",
            "mean_score_staying": SURVEY["mean_score_staying"],
            "mean_score_churning_later": SURVEY["mean_score_churning"],
            "n_churning_later": int(survey_churn.sum()),
            "score_sd": SURVEY["score_sd"],
            "n_responses": len(surveys),
        },
        "counts": {
            "customers": n_customers,
            "registered_prospects": n_prospects,
            "accounts": n_customers + n_prospects,
            "alive_at_end": int(alive.sum()),
            "purchase_days": n_purchase_days,
            "orders": int(transactions.loc[~is_return, names["order_id"]].nunique()),
            "transaction_lines": len(transactions),
            "return_lines": int(is_return.sum()),
            "events": len(events),
            "survey_responses": len(surveys),
            "gross_revenue": round(float(lines["value"].sum()), 2),
        },
    }


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then move it into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _run_yaml(end: pd.Timestamp) -> dict[str, Any]:
    config: dict[str, Any] = {"name": "demo", "as_of": f"{end:%Y-%m-%d}", "period": "M", "currency": CURRENCY}
    for table, (file_name, columns) in FILES.items():
        config[table] = {"path": file_name, "columns": dict(columns)}
    config["margin"] = {"by": "category",
                        "rates": {name: spec["gross_margin"] for name, spec in DEMO_CATEGORIES.items()}}
    return config


def write_demo_data(out_dir: str | Path | None = None, *, seed: int = DEFAULT_SEED,
                    n_customers: int = DEFAULT_N_CUSTOMERS, start: str | pd.Timestamp = DEFAULT_START,
                    end: str | pd.Timestamp | None = DEFAULT_END) -> Path:
    """Write the demo business as raw exports plus ``truth.json`` and ``run.yaml``; return the run.yaml path.

    Parameters
    ----------
    out_dir
        Folder to write into; default ``data/raw/demo`` of the project. Created when missing;
        files of a previous version are replaced one by one, each atomically.
    seed, n_customers, start, end
        As in :func:`generate_demo`.

    Returns
    -------
    Path
        The run config ``<out_dir>/run.yaml`` (written last).
    """
    demo = generate_demo(seed=seed, n_customers=n_customers, start=start, end=end)
    folder = Path(out_dir).expanduser() if out_dir is not None else raw_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in demo.tables().items():
        file_name = FILES[table][0]
        if file_name.endswith(".parquet"):
            _write_atomic(folder / file_name,
                          lambda path, frame=frame: frame.to_parquet(path, index=False, engine="pyarrow"))
        else:
            date_format = "%Y-%m-%d" if table == "spend" else TIMESTAMP_FORMAT
            _write_atomic(folder / file_name, lambda path, frame=frame, date_format=date_format: frame.to_csv(
                path, index=False, date_format=date_format, float_format="%.2f", lineterminator="\n",
                encoding="utf-8"))
    truth_text = json.dumps(demo.truth, indent=2, ensure_ascii=False) + "\n"
    _write_atomic(folder / "truth.json", lambda path: path.write_text(truth_text, encoding="utf-8"))
    config_text = ("# The demo business (docs/demo-business.md); paths are relative to this file.\n"
                   + yaml.safe_dump(_run_yaml(pd.Timestamp(demo.truth["end"])), sort_keys=False,
                                    default_flow_style=False, allow_unicode=True))
    config_path = folder / "run.yaml"
    _write_atomic(config_path, lambda path: path.write_text(config_text, encoding="utf-8"))
    return config_path
