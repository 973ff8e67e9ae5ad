"""The generating model of the demo business (described in :mod:`clc_lib.demo`): its parameters and
the vectorised draws of acquisition, repeat purchases (BG/NBD), spend (Gamma-Gamma), baskets,
returns, the win-back campaign, funnel events, the NPS survey and the marketing spend.

Times inside the model are seconds from the window's ``start`` 00:00 (days of 86,400 seconds); each
draw takes its own numpy Generator, so that one part of the business can change without moving the
others.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DEMO_CATEGORIES", "DEMO_CHANNELS"]

#: Length of the model time unit (week) in days: r/alpha is a weekly purchase rate.
MODEL_TIME_UNIT_DAYS = 7.0
SECONDS_PER_DAY = 86_400

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


# --------------------------------------------------------------------------------------------------
# Small vectorised helpers
# --------------------------------------------------------------------------------------------------

def draw_categories(rng: np.random.Generator, probabilities: np.ndarray, size: int | None = None) -> np.ndarray:
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
    hours = draw_categories(rng, np.array(HOUR_WEIGHTS), size)
    return hours * 3600 + rng.integers(0, 3600, size)


def zero_padded(numbers: np.ndarray, width: int) -> np.ndarray:
    """Numbers as strings of at least ``width`` digits, with leading zeros (ids as the exports write them)."""
    return np.char.zfill(np.asarray(numbers).astype(str), width).astype(object)


def _group_starts(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def timestamps_from_seconds(start: pd.Timestamp, seconds: np.ndarray) -> pd.Series:
    """Timestamps (microsecond resolution, no time zone) ``seconds`` after ``start``."""
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



# --------------------------------------------------------------------------------------------------
# Simulation steps
# --------------------------------------------------------------------------------------------------

def draw_acquisition(rng: np.random.Generator, n_customers: int, start: pd.Timestamp,
                     n_days: int) -> dict[str, np.ndarray]:
    """First purchase, channel and sign-up of buyers, plus registered prospects who never buy."""
    channels = _channel_table()
    days = pd.date_range(start, periods=n_days, freq="D")
    season = np.array([MONTH_FACTORS[m] for m in range(1, 13)])[days.month - 1]
    day_weights = np.exp(np.log1p(ACQUISITION["yearly_growth"]) * np.arange(n_days) / 365.25) * season

    first_day = draw_categories(rng, day_weights, n_customers)
    first_seconds = first_day * SECONDS_PER_DAY + _time_of_day(rng, n_customers)
    channel = draw_categories(rng, _channel_shares(first_day, n_days))
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


def draw_natural_purchases(rng: np.random.Generator, acquired: dict[str, np.ndarray], n_days: int,
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
    customer, seconds = spread_to_distinct_days(customer, seconds, n_days + future_days, priority=is_repeat)
    in_data = seconds < n_days * SECONDS_PER_DAY
    return dict(rate=rate, dropout=dropout, spend_rate=spend_rate, alive=alive,
                customer=customer[in_data], seconds=seconds[in_data],
                future_customer=customer[~in_data], future_seconds=seconds[~in_data])


def spread_to_distinct_days(customer: np.ndarray, seconds: np.ndarray, n_days: int,
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


def draw_win_back_campaign(rng: np.random.Generator, purchases: dict[str, np.ndarray], n_customers: int,
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


def draw_order_lines(rng: np.random.Generator, customer: np.ndarray, seconds: np.ndarray, channel: np.ndarray,
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

    popular = draw_categories(rng, categories["popularity"].to_numpy(), n)
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


def draw_returns(rng: np.random.Generator, lines: dict[str, np.ndarray], end_seconds: int) -> dict[str, np.ndarray]:
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


def invoice_ranks(seconds: np.ndarray) -> np.ndarray:
    """Position of each invoice in one till sequence ordered by time (ties keep input order)."""
    rank = np.empty(len(seconds), dtype="int64")
    rank[np.argsort(seconds, kind="stable")] = np.arange(len(seconds))
    return rank


def draw_events(rng: np.random.Generator, acquired: dict[str, np.ndarray], account_id: np.ndarray,
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
    v_day = draw_categories(rng, acquired["day_weights"], n_visitors)
    v_seconds = v_day * SECONDS_PER_DAY + _time_of_day(rng, n_visitors)
    v_channel = channel_names[draw_categories(rng, _channel_shares(v_day, n_days))]
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


def draw_survey(rng: np.random.Generator, customer: np.ndarray, seconds: np.ndarray, future_customer: np.ndarray,
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
    reason = draw_categories(rng, reason_probabilities[group])
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


def draw_spend(rng: np.random.Generator, acquired: dict[str, np.ndarray], start: pd.Timestamp,
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
