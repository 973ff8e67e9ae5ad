"""The demo business generator: determinism, sizes, file layout, and that the data carry the truth.

Reference values come from outside the generator: the BG/NBD closed forms of Fader, Hardie & Lee
(2005) evaluated with scipy (E[X(t)], eq. 9, and P(X(t) = 0) = (alpha / (alpha + t))^r), the
Gamma-Gamma mean p * gamma / (q - 1) (Fader & Hardie 2013), two-proportion tests and power from
statsmodels, and the truth parameters. The checks read the *written files* with pandas, as a
user's loader would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import special, stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize, proportions_ztest

from clc_lib.config import RunConfig
from clc_lib.demo import generate_demo, write_demo_data
from clc_lib.demo_model import DEMO_CHANNELS
from clc_lib.errors import ConfigError

DATA_FILES = ("transactions.parquet", "customers.csv", "spend.csv", "events.parquet", "campaigns.csv",
              "surveys.csv", "truth.json", "run.yaml")
ID_COLUMNS = {"customers.csv": ["customer_number"], "campaigns.csv": ["CustomerID", "CampaignID"],
              "surveys.csv": ["CustomerID"], "spend.csv": []}
DATE_COLUMNS = {"customers.csv": ["created_at"], "campaigns.csv": ["SentAt"], "surveys.csv": ["RespondedAt"],
                "spend.csv": ["Month"]}


def _hashes(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in DATA_FILES}


def _read_csv(folder: Path, name: str) -> pd.DataFrame:
    frame = pd.read_csv(folder / name, dtype={c: str for c in ID_COLUMNS[name]}, encoding="utf-8")
    for column in DATE_COLUMNS[name]:
        frame[column] = pd.to_datetime(frame[column], format="ISO8601")
    return frame


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    config_path = write_demo_data(folder)
    assert config_path == folder / "run.yaml"
    return folder


@pytest.fixture(scope="module")
def files(demo_dir) -> dict[str, pd.DataFrame]:
    """The written tables, read with plain pandas (ids as text)."""
    tables = {name.split(".")[0]: _read_csv(demo_dir, name) for name in ID_COLUMNS}
    tables["transactions"] = pd.read_parquet(demo_dir / "transactions.parquet")
    tables["events"] = pd.read_parquet(demo_dir / "events.parquet")
    tables["truth"] = json.loads((demo_dir / "truth.json").read_text(encoding="utf-8"))
    return tables


@pytest.fixture(scope="module")
def purchase_days(files) -> pd.DataFrame:
    """One row per customer and purchase day (returns excluded), with the day's value in EUR."""
    tx = files["transactions"]
    purchases = tx[~tx["Invoice"].str.startswith("C")]
    return (purchases.assign(day=purchases["InvoiceDate"].dt.floor("D"),
                             amount=purchases["Quantity"] * purchases["Price"])
            .groupby(["CustomerID", "day"], as_index=False)
            .agg(first_time=("InvoiceDate", "min"), value=("amount", "sum"), orders=("Invoice", "nunique")))


@pytest.fixture(scope="module")
def summary(files, purchase_days) -> pd.DataFrame:
    """Per buyer: x (repeat purchase days), T in weeks from the first purchase to the end, channel."""
    end = pd.Timestamp(files["truth"]["end"]) + pd.Timedelta(days=1)
    by_customer = purchase_days.groupby("CustomerID")
    frame = pd.DataFrame({"first": by_customer["first_time"].min(), "x": by_customer.size() - 1,
                          "first_value": by_customer["value"].first()})
    frame["T"] = (end - frame["first"]).dt.total_seconds() / (7 * 86_400)
    channels = files["customers"].set_index("customer_number")["acquisition_source"]
    frame["channel"] = channels.reindex(frame.index)
    return frame


def test_same_seed_gives_identical_files_and_a_rewrite_replaces_a_previous_version(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    write_demo_data(first, n_customers=2_000)
    write_demo_data(second, n_customers=2_000)
    reference = _hashes(first)
    assert _hashes(second) == reference

    write_demo_data(second, seed=7, n_customers=2_000)    # over the previous version
    rewritten = _hashes(second)
    assert all(rewritten[name] != reference[name] for name in DATA_FILES if name != "run.yaml")
    assert sorted(p.name for p in second.iterdir()) == sorted(DATA_FILES)   # no temporary files left
    assert json.loads((second / "truth.json").read_text())["seed"] == 7


def test_generate_demo_is_deterministic_in_memory_and_depends_on_the_seed():
    first, second = generate_demo(n_customers=2_000), generate_demo(n_customers=2_000)
    for name, frame in first.tables().items():
        pd.testing.assert_frame_equal(frame, second.tables()[name])
    other = generate_demo(seed=1, n_customers=2_000)
    assert not other.transactions.equals(first.transactions)
    assert not other.customers["created_at"].equals(first.customers["created_at"])


def test_sizes_and_three_year_window(files, purchase_days):
    tx, truth = files["transactions"], files["truth"]
    assert tx["CustomerID"].nunique() >= 20_000
    assert len(tx) >= 150_000
    assert tx["InvoiceDate"].min() < pd.Timestamp("2022-01-08")
    assert pd.Timestamp("2024-12-24") < tx["InvoiceDate"].max() < pd.Timestamp("2025-01-01")
    assert tx["InvoiceDate"].is_monotonic_increasing
    assert len(files["events"]) <= 300_000
    counts = truth["counts"]
    assert counts["transaction_lines"] == len(tx)
    assert counts["customers"] == tx["CustomerID"].nunique()
    assert counts["orders"] == tx.loc[~tx["Invoice"].str.startswith("C"), "Invoice"].nunique()
    assert counts["events"] == len(files["events"])
    assert counts["survey_responses"] == len(files["surveys"])
    # One purchase day per model purchase; its lines add up to the simulated value (up to cents).
    assert counts["purchase_days"] == len(purchase_days)
    assert purchase_days["value"].sum() == pytest.approx(counts["gross_revenue"], rel=1e-5)


def test_ids_are_zero_padded_text_consistent_across_tables(files):
    tx = files["transactions"]
    assert tx["CustomerID"].dtype == object and tx["Invoice"].dtype == object
    ids = files["customers"]["customer_number"]
    assert ids.str.fullmatch(r"\d{6}").all() and ids.is_unique
    assert ids.str.startswith("0").mean() > 0.9          # leading zeros would be lost as numbers
    assert "000001" in set(ids)
    known = set(ids)
    assert set(tx["CustomerID"]) <= known
    assert set(files["campaigns"]["CustomerID"]) <= set(tx["CustomerID"])
    assert set(files["surveys"]["CustomerID"]) <= set(tx["CustomerID"])
    assert set(files["events"]["user_id"].dropna()) <= known
    assert tx.loc[~tx["Invoice"].str.startswith("C"), "Invoice"].str.fullmatch(r"\d{6}").all()
    assert tx["StockCode"].str.fullmatch(r"2[1-7]\d{3}").all()


def test_returns_are_negative_lines_on_C_invoices_of_earlier_purchases(files, purchase_days):
    tx = files["transactions"]
    is_return = tx["Invoice"].str.startswith("C")
    assert ((tx["Quantity"] < 0) == is_return).all()
    assert (tx["Price"] > 0).all()
    assert 0.02 <= is_return.mean() <= 0.08
    assert tx.loc[is_return, "Invoice"].str.fullmatch(r"C\d{6}").all()
    returns, purchases = tx[is_return], tx[~is_return]
    # Every returned line matches an earlier purchase of the same product at the same price.
    matched = returns.merge(purchases, on=["CustomerID", "StockCode", "Price"], suffixes=("", "_sale"))
    matched = matched[(matched["InvoiceDate_sale"] < matched["InvoiceDate"])
                      & (matched["Quantity_sale"] >= -matched["Quantity"])]
    assert matched.drop_duplicates(["Invoice", "StockCode", "Price"]).shape[0] == \
        returns.drop_duplicates(["Invoice", "StockCode", "Price"]).shape[0]
    # Some customers place two orders on one day: one purchase day, two invoices.
    assert (purchase_days["orders"] > 1).sum() > 100
    assert set(tx["Channel"]) == {"web", "app"}


def _bgnbd_expected_repeats(r: float, alpha: float, a: float, b: float, t: np.ndarray) -> np.ndarray:
    """E[X(t)] of the BG/NBD, Fader, Hardie & Lee (2005) eq. (9)."""
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, z))


@pytest.mark.parametrize("channel", list(DEMO_CHANNELS))
def test_repeat_purchase_days_follow_the_true_bgnbd_of_each_channel(summary, files, channel):
    truth = files["truth"]["channels"][channel]
    group = summary[summary["channel"] == channel]
    T = group["T"].to_numpy()
    expected = _bgnbd_expected_repeats(truth["r"], truth["alpha"], truth["a"], truth["b"], T).mean()
    standard_error = group["x"].std() / np.sqrt(len(group))
    assert abs(group["x"].mean() - expected) < 4 * standard_error
    # No repeat purchase: the customer never had a chance to drop out, P = (alpha / (alpha + T))^r.
    p_zero = ((truth["alpha"] / (truth["alpha"] + T)) ** truth["r"]).mean()
    assert abs((group["x"] == 0).mean() - p_zero) < 4 * np.sqrt(p_zero * (1 - p_zero) / len(group))
    # First-purchase value: Gamma-Gamma mean p * gamma / (q - 1), in EUR.
    mean_value = truth["p"] * truth["gamma"] / (truth["q"] - 1)
    value_se = group["first_value"].std() / np.sqrt(len(group))
    assert abs(group["first_value"].mean() - mean_value) < 4 * value_se


def test_channels_differ_in_quality_in_the_order_the_truth_states(summary, files):
    order = files["truth"]["channels_by_quality"]
    cohort_2022 = summary[summary["first"] < "2023-01-01"]
    repeats = cohort_2022.groupby("channel")["x"].mean().reindex(order)
    assert repeats.is_monotonic_decreasing and repeats.iloc[0] > 1.8 * repeats.iloc[-1]
    value = summary.groupby("channel")["first_value"].mean().reindex(order)
    assert value.is_monotonic_decreasing
    # Monthly spend is the true cost per acquired buyer times new buyers (with noise around it).
    spend = files["spend"]
    assert len(spend) == 36 * len(order) and (spend["Month"].dt.day == 1).all() and (spend["Spend"] >= 0).all()
    cac = spend.groupby("Channel")["Spend"].sum() / summary.groupby("channel").size()
    for channel in order:
        assert cac[channel] == pytest.approx(files["truth"]["channels"][channel]["cac"], rel=0.05)


def _campaign_frame(files, purchase_days) -> pd.DataFrame:
    campaigns = files["campaigns"]
    sent_at = campaigns["SentAt"].iloc[0]
    before = purchase_days[purchase_days["first_time"] < sent_at]
    window = purchase_days[(purchase_days["first_time"] > sent_at)
                           & (purchase_days["first_time"] <= sent_at + pd.Timedelta(days=90))]
    history = before.groupby("CustomerID").agg(purchase_days=("day", "size"), value=("value", "sum"),
                                               last=("first_time", "max"))
    frame = campaigns.set_index("CustomerID").join(history)
    frame["days_since_last"] = (sent_at - frame["last"]).dt.days
    frame["reactivated"] = frame.index.isin(window["CustomerID"])
    frame["channel"] = files["customers"].set_index("customer_number")["acquisition_source"].reindex(frame.index)
    return frame


def test_win_back_campaign_is_randomised_and_balanced(files, purchase_days):
    frame = _campaign_frame(files, purchase_days)
    truth = files["truth"]["campaign"]
    assert set(frame["CampaignType"]) == {"win_back"} and frame["CampaignID"].nunique() == 1
    assert str(frame["SentAt"].iloc[0]) == truth["sent_at"] == "2024-07-01 09:00:00"
    sizes = frame["Group"].value_counts()
    assert set(sizes.index) == {"treatment", "control"} and abs(sizes["treatment"] - sizes["control"]) <= 1
    assert sizes.min() >= 2_000
    assert (frame["purchase_days"] >= 1).all() and (frame["days_since_last"] >= 180).all()
    treated = frame["Group"] == "treatment"
    for covariate in ("purchase_days", "value", "days_since_last"):
        pooled_sd = np.sqrt((frame.loc[treated, covariate].var() + frame.loc[~treated, covariate].var()) / 2)
        standardised_difference = (frame.loc[treated, covariate].mean()
                                   - frame.loc[~treated, covariate].mean()) / pooled_sd
        assert abs(standardised_difference) < 0.1, covariate
    mix = pd.crosstab(frame["Group"], frame["channel"])
    assert stats.chi2_contingency(mix).pvalue > 0.01


def test_win_back_uplift_is_visible_and_detectable(files, purchase_days):
    frame = _campaign_frame(files, purchase_days)
    true_uplift = files["truth"]["campaign"]["true_uplift"]
    assert true_uplift == pytest.approx(0.04)
    treated = frame["Group"] == "treatment"
    successes = np.array([frame.loc[treated, "reactivated"].sum(), frame.loc[~treated, "reactivated"].sum()])
    sizes = np.array([treated.sum(), (~treated).sum()])
    rates = successes / sizes
    standard_error = np.sqrt((rates * (1 - rates) / sizes).sum())
    assert abs((rates[0] - rates[1]) - true_uplift) < 2.5 * standard_error
    assert 0.03 < rates[1] < 0.2                            # lapsed customers rarely return unprompted
    _, p_value = proportions_ztest(successes, sizes)
    assert p_value < 0.05
    effect = proportion_effectsize(rates[1] + true_uplift, rates[1])
    power = NormalIndPower().power(effect, nobs1=sizes[0], alpha=0.05, ratio=sizes[1] / sizes[0])
    assert power >= 0.8


def test_events_hold_prospects_who_never_buy_and_the_buyers_funnel(files):
    events, tx, customers = files["events"], files["transactions"], files["customers"]
    assert set(events["event"]) == {"visit", "signup", "product_view", "add_to_cart", "email_open"}
    anonymous = events["user_id"].isna()
    assert (events.loc[anonymous, "distinct_id"].str.fullmatch(r"V\d{7}")).all()
    assert (events.loc[~anonymous, "distinct_id"] == events.loc[~anonymous, "user_id"]).all()
    buyers = set(tx["CustomerID"])
    never_bought = events[~events["distinct_id"].isin(buyers)]
    assert never_bought["distinct_id"].nunique() > 20_000
    registered_prospects = set(never_bought.loc[never_bought["event"] == "signup", "user_id"])
    assert len(registered_prospects) > 5_000
    assert registered_prospects == set(customers["customer_number"]) - buyers
    # Buyers sign up before (or on the day of) their first purchase and have events before it.
    first_purchase = tx.groupby("CustomerID")["InvoiceDate"].min()
    signup = events[events["event"] == "signup"].set_index("user_id")["time"]
    assert (signup.reindex(first_purchase.index) < first_purchase).all()
    first_event = events[~anonymous].groupby("user_id")["time"].min().reindex(first_purchase.index)
    assert (first_event < first_purchase).all()
    # Social sign-ups convert least, referral sign-ups most (truth: signup_conversion).
    is_buyer = customers["customer_number"].isin(buyers)
    conversion = is_buyer.groupby(customers["acquisition_source"]).mean()
    for channel, spec in files["truth"]["channels"].items():
        assert conversion[channel] == pytest.approx(spec["signup_conversion"], abs=0.03)


def _bought_within_a_year_of_answering(surveys: pd.DataFrame, transactions: pd.DataFrame) -> np.ndarray:
    purchases = transactions.loc[~transactions["Invoice"].str.startswith("C"), ["CustomerID", "InvoiceDate"]]
    pairs = surveys[["CustomerID", "RespondedAt"]].merge(purchases, on="CustomerID")
    pairs = pairs[(pairs["InvoiceDate"] > pairs["RespondedAt"])
                  & (pairs["InvoiceDate"] <= pairs["RespondedAt"] + pd.Timedelta(days=365))]
    return surveys["CustomerID"].isin(pairs["CustomerID"]).to_numpy()


def test_survey_scores_are_lower_for_customers_who_later_churn(files):
    surveys, end = files["surveys"], pd.Timestamp(files["truth"]["end"])
    assert surveys["NPS"].between(0, 10).all() and (surveys["NPS"] % 1 == 0).all()
    assert set(surveys["Reason"]) == {"price", "delivery", "product quality", "service"}
    assert surveys["CustomerID"].is_unique and len(surveys) > 3_000
    assert (surveys["RespondedAt"] <= end + pd.Timedelta(days=1)).all()
    # Respondents with a full year of follow-up in the data: churned = no purchase in that year.
    followed = surveys[surveys["RespondedAt"] <= end - pd.Timedelta(days=365)].reset_index(drop=True)
    bought_again = _bought_within_a_year_of_answering(followed, files["transactions"])
    assert 0.2 < (~bought_again).mean() < 0.6
    assert followed.loc[~bought_again, "NPS"].mean() < followed.loc[bought_again, "NPS"].mean() - 1.5
    # A plausible NPS for a web shop, with detractors mostly citing price and delivery.
    share = surveys["NPS"].map(lambda score: "detractor" if score <= 6 else "promoter" if score >= 9 else "passive")
    nps = 100 * ((share == "promoter").mean() - (share == "detractor").mean())
    assert 10 < nps < 50
    assert surveys.loc[share == "detractor", "Reason"].value_counts(normalize=True)[["price", "delivery"]].sum() > 0.55
    # Comments survive the CSV round trip, markup characters and quotes included.
    comments = set(surveys["Comment"].dropna())
    assert {"<b>great</b> & fast", 'Said "next day", took a week', "Prices went up 10 € since last year"} <= comments
    assert surveys["Comment"].isna().mean() > 0.1


def test_customer_truth_matches_the_data():
    demo = generate_demo(n_customers=5_000)
    truth = demo.customer_truth.set_index("customer_id")
    surveys, tx, end = demo.surveys, demo.transactions, pd.Timestamp(demo.truth["end"])
    churns = truth["survey_churns_later"].reindex(surveys["CustomerID"]).to_numpy(dtype=bool)
    assert truth["survey_churns_later"].notna().sum() == len(surveys)
    assert churns.sum() == demo.truth["survey"]["n_churning_later"]
    followed = (surveys["RespondedAt"] <= end - pd.Timedelta(days=365)).to_numpy()
    bought_again = _bought_within_a_year_of_answering(surveys, tx)
    assert (churns[followed] == ~bought_again[followed]).all()
    # Means of round(N(mu, 1.6)) clipped to 0-10; clipping at 10 lowers the upper mean a little.
    scores = surveys["NPS"].to_numpy()
    assert scores[churns].mean() == pytest.approx(demo.truth["survey"]["mean_score_churning_later"], abs=0.25)
    assert scores[~churns].mean() == pytest.approx(demo.truth["survey"]["mean_score_staying"] - 0.25, abs=0.25)
    # The drop-out follows the last model purchase; a later order is the campaign's or a second order that day.
    last_purchase = tx[~tx["Invoice"].str.startswith("C")].groupby("CustomerID")["InvoiceDate"].max()
    dropped = truth[~truth["alive_at_end"]]
    assert dropped["dropout_at"].notna().all() and truth.loc[truth["alive_at_end"], "dropout_at"].isna().all()
    later = last_purchase.reindex(dropped.index) > dropped["dropout_at"]
    same_day = last_purchase.reindex(dropped.index).dt.floor("D") == dropped["dropout_at"].dt.floor("D")
    assert (last_purchase.reindex(dropped.index) >= dropped["dropout_at"]).all()
    assert (~later | same_day | dropped["campaign_incremental"]).all()
    incremental = truth[truth["campaign_incremental"]]
    assert len(incremental) > 0 and (incremental["campaign_group"] == "treatment").all()


def test_run_yaml_is_a_valid_config_whose_mappings_name_existing_columns(demo_dir):
    raw = yaml.safe_load((demo_dir / "run.yaml").read_text())
    config = RunConfig.from_yaml(demo_dir / "run.yaml")
    assert (config.name, config.currency, config.period.code, config.as_of) == ("demo", "EUR", "M",
                                                                                 dt.date(2024, 12, 31))
    assert set(config.tables) == {"transactions", "customers", "spend", "events", "campaigns", "surveys"}
    assert set(raw["transactions"]["columns"]) == {"customer_id", "order_id", "timestamp", "quantity",
                                                   "unit_price", "product_id", "category", "channel"}
    for name, spec in config.tables.items():
        path = spec.resolved_path
        assert path.is_file() and not Path(spec.path).is_absolute()
        columns = (pd.read_parquet(path).columns if path.suffix == ".parquet"
                   else pd.read_csv(path, nrows=0).columns)
        assert set(spec.columns.values()) <= set(columns), name
    assert "country" in pd.read_csv(demo_dir / "customers.csv", nrows=0).columns


def test_run_yaml_gives_the_demo_business_a_gross_margin_per_category(demo_dir, files):
    from clc_lib.unit_economics import margin_basis

    config = RunConfig.from_yaml(demo_dir / "run.yaml")
    options = config.margin
    assert options["by"] == "category" and options["rate"] is None
    assert options["rates"] == {"Apparel": 0.45, "Footwear": 0.4, "Accessories": 0.5, "Home": 0.4,
                                "Beauty": 0.4, "Electronics": 0.15, "Sports": 0.35}
    assert set(files["transactions"]["Category"].unique()) == set(options["rates"])
    assert {name: spec["gross_margin"] for name, spec in files["truth"]["categories"].items()} == options["rates"]
    assert margin_basis(options).startswith("gross margin by category (Accessories 50%, Apparel 45%")


def test_truth_json_states_the_generating_parameters(files):
    truth = files["truth"]
    assert truth["seed"] == 20240601 and truth["time_unit"] == "W" and truth["currency"] == "EUR"
    for channel, spec in DEMO_CHANNELS.items():
        for key in ("r", "alpha", "a", "b", "p", "q", "gamma", "cac"):
            assert truth["channels"][channel][key] == spec[key]
    assert truth["channels_by_quality"] == list(DEMO_CHANNELS)


@pytest.mark.parametrize("arguments, message", [
    ({"n_customers": 10}, "n_customers"),
    ({"seed": -1}, "seed"),
    ({"start": "2024-01-01", "end": "2024-06-30"}, "shorter than"),
    ({"start": "not a date"}, "not a pair of dates"),
])
def test_bad_arguments_raise_config_error(arguments, message):
    with pytest.raises(ConfigError, match=message):
        generate_demo(**arguments)
