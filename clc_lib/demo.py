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
``docs/demo-business.md`` describes the business and the files for people. The model's parameters
and draws are in :mod:`clc_lib.demo_model`; this module assembles the tables, the truth and the files.
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

from clc_lib.demo_model import (
    CAMPAIGN,
    COUNTRIES,
    DEMO_CATEGORIES,
    DEMO_CHANNELS,
    FILES,
    SECONDS_PER_DAY,
    SURVEY,
    draw_acquisition,
    draw_categories,
    draw_events,
    draw_natural_purchases,
    draw_order_lines,
    draw_returns,
    draw_spend,
    draw_survey,
    draw_win_back_campaign,
    invoice_ranks,
    spread_to_distinct_days,
    timestamps_from_seconds,
    zero_padded,
)
from clc_lib.errors import ConfigError
from clc_lib.paths import raw_dir

__all__ = ["DemoData", "generate_demo", "write_demo_data"]

DEFAULT_SEED = 20240601
DEFAULT_N_CUSTOMERS = 25_000
DEFAULT_START = "2022-01-01"
DEFAULT_END = "2024-12-31"
CURRENCY = "EUR"
MIN_CUSTOMERS = 1_000
MIN_WINDOW_DAYS = 730
FIRST_INVOICE_NUMBER = 100_001

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

    acquired = draw_acquisition(rng["acquisition"], n_customers, start_day, n_days)
    natural = draw_natural_purchases(rng["behaviour"], acquired, n_days, SURVEY["churn_days"])
    sent_at = end_day - pd.DateOffset(months=CAMPAIGN["months_before_end"]) + pd.Timedelta(days=1, hours=CAMPAIGN["send_hour"])
    sent_seconds = int((sent_at - start_day).total_seconds())
    campaign = draw_win_back_campaign(rng["campaign"], natural, n_customers, sent_seconds)
    # Campaign orders fall strictly inside the window where these customers have no purchase.
    customer, seconds = spread_to_distinct_days(np.concatenate([natural["customer"], campaign["incremental"]]),
                                                np.concatenate([natural["seconds"], campaign["incremental_seconds"]]), n_days)

    popularity = pd.DataFrame.from_dict(DEMO_CATEGORIES, orient="index")["popularity"].to_numpy()
    home_category = draw_categories(rng["baskets"], popularity, n_customers)
    lines = draw_order_lines(rng["baskets"], customer, seconds, acquired["channel"], natural["spend_rate"],
                             home_category, n_days)
    returns = draw_returns(rng["baskets"], lines, end_seconds)

    # Account ids in order of sign-up; buyers come first in the arrays, then registered prospects.
    signup_seconds = np.concatenate([acquired["signup_seconds"], acquired["prospect_seconds"]])
    n_accounts = len(signup_seconds)
    id_width = max(6, len(str(n_accounts)))
    account_id = zero_padded(1 + invoice_ranks(signup_seconds), id_width)

    # Invoices: orders and cancellations share one number sequence in time order.
    order_of_line = lines["line_order"]
    return_order = np.unique(order_of_line[returns["line"]])
    return_seconds = returns["seconds"][return_order]
    rank = invoice_ranks(np.concatenate([lines["order_seconds"], return_seconds]))
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
        names["timestamp"]: timestamps_from_seconds(start_day, sort_seconds[order]),
        names["customer_id"]: account_id[lines["order_customer"][order_of_line[line_source]]][order],
        names["channel"]: lines["order_channel"][order_of_line[line_source]][order],
    })

    customer_names = FILES["customers"][1]
    account_channel = channel_names[np.concatenate([acquired["channel"], acquired["prospect_channel"]])]
    country = np.array(list(COUNTRIES), dtype=object)[
        draw_categories(rng["acquisition"], np.array(list(COUNTRIES.values())), n_accounts)]
    by_id = np.argsort(account_id, kind="stable")
    customers = pd.DataFrame({
        customer_names["customer_id"]: account_id[by_id],
        customer_names["first_seen"]: timestamps_from_seconds(start_day, signup_seconds[by_id]),
        customer_names["acquisition_channel"]: account_channel[by_id],
        CUSTOMER_ATTRIBUTES[0]: country[by_id],
    })

    events = draw_events(rng["events"], acquired, account_id, n_days, end_seconds)
    event_time = FILES["events"][1]["timestamp"]
    events[event_time] = timestamps_from_seconds(start_day, events[event_time].to_numpy())

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

    survey = draw_survey(rng["survey"], customer, seconds, natural["future_customer"], natural["future_seconds"],
                         n_customers, end_seconds)
    survey_names = FILES["surveys"][1]
    surveys = pd.DataFrame({
        survey_names["customer_id"]: account_id[survey["customer"]],
        survey_names["responded_at"]: timestamps_from_seconds(start_day, survey["seconds"]),
        survey_names["score"]: survey["score"],
        survey_names["reason"]: survey["reason"],
        survey_names["comment"]: survey["comment"],
    })

    spend = draw_spend(rng["spend"], acquired, start_day, end_day)

    last_natural = np.zeros(n_customers, dtype="int64")
    np.maximum.at(last_natural, natural["customer"], natural["seconds"])
    incremental = np.zeros(n_customers, dtype=bool)
    incremental[campaign["incremental"]] = True
    survey_churn = pd.array(np.full(n_customers, pd.NA), dtype="boolean")
    survey_churn[survey["customer"]] = survey["churns_later"]
    customer_truth = pd.DataFrame({
        "customer_id": account_id[:n_customers],
        "channel": channel_names[acquired["channel"]],
        "first_purchase": timestamps_from_seconds(start_day, acquired["first_seconds"]),
        "purchase_rate": natural["rate"],
        "dropout_probability": natural["dropout"],
        "mean_spend": np.array([DEMO_CHANNELS[c]["p"] for c in DEMO_CHANNELS])[acquired["channel"]]
        / natural["spend_rate"],
        "alive_at_end": natural["alive"],
        "dropout_at": timestamps_from_seconds(start_day, last_natural).where(~natural["alive"]),
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
    config["acquisition"] = {"unpaid_channels": ["organic"]}
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
