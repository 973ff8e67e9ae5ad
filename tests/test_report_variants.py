"""Reports on the demo export and on variants of it: an earlier as_of, campaigns without a control
group, and a customers table with attributes but no acquisition channel."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from clc_lib.definitions import TERMS
from clc_lib.paths import project_root
from clc_lib.report import run_report

DEMO_DIR = project_root() / "data" / "raw" / "demo"
WINBACK_SEND = pd.Timestamp("2024-07-01 09:00")  # docs/demo-business.md


@pytest.fixture(scope="module")
def demo_config() -> dict:
    if not (DEMO_DIR / "run.yaml").is_file():
        from clc_lib.demo import write_demo_data

        write_demo_data(DEMO_DIR)
    config = yaml.safe_load((DEMO_DIR / "run.yaml").read_text())
    for table in ("transactions", "customers", "spend", "events", "campaigns", "surveys"):
        config[table]["path"] = str(DEMO_DIR / config[table]["path"])
    return config


def _write_config(folder: Path, config: dict) -> Path:
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _text(page: Path) -> str:
    """The visible text of a rendered report page, in one line."""
    markup = re.sub(r"<style.*?</style>|<script.*?</script>", " ", page.read_text(), flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)))


def _report(config: Path, out: Path, only: list[str], as_of: str | None = None) -> dict[str, str]:
    run = run_report(config, out=out, only=only, as_of=as_of, jobs=1, echo=None)
    assert run.ok, [(n.name, n.error) for n in run.notebooks if n.status != "ok"]
    return {page.stem: _text(page) for page in run.path.glob("*.html") if page.stem != "index"}


@pytest.mark.slow
def test_reports_render_with_as_of_the_day_before_the_winback_send(tmp_path, demo_config):
    day_before = f"{WINBACK_SEND - pd.Timedelta(days=1):%Y-%m-%d}"
    pages = _report(_write_config(tmp_path, demo_config), tmp_path / "reports", ["04", "05"], as_of=day_before)
    recovery = pages["05_recovery"]
    assert f"No campaign was sent on or before {day_before}." in recovery
    # The cut is counted per table in the data-quality summary.
    assert "campaigns after_as_of exclude 9,709" in recovery
    assert "sent_at after the as_of day" in recovery and "responded_at after the as_of day" in recovery
    assert "'too recent': answered less than 365 days before 2024-06-30" in recovery


@pytest.mark.slow
def test_a_campaign_whose_window_is_open_at_as_of_is_reported_as_running(tmp_path, demo_config):
    pages = _report(_write_config(tmp_path, demo_config), tmp_path / "reports", ["05"], as_of="2024-08-01")
    assert ("Campaign WB202407 is running: its outcome window ends on 2024-09-29, so no uplift is reported yet."
            in pages["05_recovery"])
    assert "Uplift in conversion" not in pages["05_recovery"]


def _customers_with_attributes_but_no_channel(folder: Path) -> dict:
    """The demo's customers with age band, household size and income instead of the acquisition channel."""
    customers = pd.read_csv(DEMO_DIR / "customers.csv", dtype=str).drop(columns="acquisition_source")
    rng = np.random.default_rng(5)
    customers["age_band"] = rng.choice(["18-24", "25-34", "35-44", "45-64", "65+", "n/a"], len(customers),
                                       p=[0.15, 0.3, 0.25, 0.25, 0.0499, 0.0001])
    customers["household_size"] = rng.integers(1, 6, len(customers)).astype(str)
    customers["income"] = (rng.lognormal(10.5, 0.4, len(customers)) // 100 * 100).astype(int).astype(str)
    customers.loc[rng.random(len(customers)) < 0.2, "income"] = ""
    customers.to_csv(folder / "customers.csv", index=False)
    return {"path": "customers.csv", "columns": {"customer_id": "customer_number", "first_seen": "created_at"}}


@pytest.mark.slow
def test_reports_render_without_a_control_group_and_without_an_acquisition_channel(tmp_path, demo_config):
    campaigns = pd.read_csv(DEMO_DIR / "campaigns.csv", dtype=str).drop(columns="Group")
    campaigns.to_csv(tmp_path / "campaigns.csv", index=False)
    campaign_columns = {k: v for k, v in demo_config["campaigns"]["columns"].items() if k != "group"}
    config = {**demo_config,
              "campaigns": {"path": "campaigns.csv", "columns": campaign_columns},
              "customers": _customers_with_attributes_but_no_channel(tmp_path)}
    pages = _report(_write_config(tmp_path, config), tmp_path / "reports", ["04", "05"])
    retention, recovery = pages["04_retention"], pages["05_recovery"]
    assert "Customer attributes used: country: categorical, 7 levels." in retention
    assert "household_size: numeric, hazard ratio per 1." in retention
    assert "income: numeric with missing values, used as quantile bands, 5 levels." in retention
    assert "age_band: categorical, 6 levels, 1 rare level(s) pooled into 'other'." in retention
    assert "By household_size:" in retention and "acquisition_channel" not in retention
    assert "The frame lacks columns" not in retention
    assert "These campaigns have no control group" in recovery and "observational" in recovery.lower()
    assert "uplift in conversion" not in recovery.lower()
    assert re.search(r"Next send of WB202407 to churned customers: hold out a random control group\. To detect an "
                     r"uplift of 2 points over a response rate of [\d.]+% in four tests out of five, each group "
                     r"needs [\d,]+ customers \(this send contacted [\d,]+\)\.", recovery)


@pytest.mark.slow
def test_segmentation_and_acquisition_profile_the_attributes_there_are_without_an_acquisition_channel(
        tmp_path, demo_config):
    config = {**demo_config, "customers": _customers_with_attributes_but_no_channel(tmp_path)}
    pages = _report(_write_config(tmp_path, config), tmp_path / "reports", ["01", "02"])
    segmentation, acquisition = pages["01_segmentation"], pages["02_acquisition"]
    assert ("Customer attributes used: country: categorical, 7 levels. age_band: categorical, 6 levels, "
            "1 rare level(s) pooled into 'other'. household_size: numeric, hazard ratio per 1. income: numeric "
            "with missing values, used as quantile bands, 5 levels.") in segmentation
    for attribute in ("country", "age_band", "household_size", "income"):
        for group in ("stage", "segment"):
            assert f"Customers of each {group} by {attribute} (shares of the row)" in segmentation
    assert "acquisition_channel" not in segmentation
    # without a customers' channel 02 falls back to the channel of the first order (app, web), which
    # the spend table's marketing channels do not name: CAC by channel is skipped in one line
    assert ("Not shown: acquisition cost (CAC), LTV:CAC and payback by channel. None of the spend table's channels "
            "(affiliate, organic, paid_search, referral, social) is an acquisition channel of the customers "
            "(app, web); per-channel CAC, LTV:CAC and payback need the customers table's acquisition_channel, "
            "or order channels named as in the spend table.") in acquisition
    assert re.search(r"Value of the first order by acquisition channel Channel .*\bapp\b.*\bweb\b", acquisition)


@pytest.mark.slow
def test_segmentation_without_customer_attributes_skips_the_profiles_in_one_line(tmp_path, demo_config):
    customers = pd.read_csv(DEMO_DIR / "customers.csv", dtype=str)[["customer_number", "created_at"]]
    customers.to_csv(tmp_path / "customers.csv", index=False)
    config = {**demo_config, "customers": {"path": "customers.csv",
                                           "columns": {"customer_id": "customer_number", "first_seen": "created_at"}}}
    pages = _report(_write_config(tmp_path, config), tmp_path / "reports", ["01"])
    assert ("Not shown: the stage and segment profiles by customer attribute. The customers table has no usable "
            "attribute.") in pages["01_segmentation"]
    assert "Customers of each stage by" not in pages["01_segmentation"]


@pytest.mark.slow
def test_segmentation_and_acquisition_key_figures_agree_on_the_demo(tmp_path, demo_config):
    run = run_report(_write_config(tmp_path, demo_config), out=tmp_path / "reports", only=["01", "02"], jobs=1,
                     echo=None)
    assert run.ok, [(n.name, n.error) for n in run.notebooks if n.status != "ok"]
    figures = {notebook.name: {figure["label"]: figure for figure in notebook.key_figures}
               for notebook in run.notebooks}
    segmentation, acquisition = figures["01_segmentation"], figures["02_acquisition"]
    # Every customer of the segmentation page is an acquired customer of the acquisition page.
    customers, acquired = TERMS["customer"].label, TERMS["acquired_customer"].label
    assert segmentation[customers]["value"] == acquisition[acquired]["value"]
    repeat = TERMS["repeat_customer"].label
    assert segmentation[repeat]["value"] == acquisition[repeat]["value"]
    assert segmentation[repeat]["formatted"] == acquisition[repeat]["formatted"]
    truth = json.loads((DEMO_DIR / "truth.json").read_text())
    assert segmentation[customers]["value"] == truth["counts"]["customers"]
    # the demo business has a gross margin per category, so customer value is on margin
    page = (run.path / "02_acquisition.html").read_text(encoding="utf-8")
    assert "Customer value for LTV:CAC and payback: gross margin by category" in page


@pytest.mark.slow
def test_the_demo_pays_back_on_margin_after_more_than_one_month():
    import clc_lib as clc

    run = clc.load_run(DEMO_DIR / "run.yaml")
    margin = run.config.margin
    curve = clc.cumulative_revenue_per_customer(run.transactions, run.customers, as_of=run.as_of, margin=margin)
    cac = clc.cac_by_channel(run.spend, clc.new_customers(run.transactions, run.customers, period="M",
                                                          as_of=run.as_of), by_period=False)
    payback = clc.payback_period(curve, cac).set_index("channel")["payback_months"]
    revenue_payback = clc.payback_period(clc.cumulative_revenue_per_customer(
        run.transactions, run.customers, as_of=run.as_of), cac).set_index("channel")["payback_months"]
    paid = ["affiliate", "paid_search", "referral", "social"]
    assert (revenue_payback[paid] == 1).all()  # on revenue the first month pays for every paid channel
    # on margin the expensive channels take longer; the cheap ones still pay back in the first month
    assert payback["paid_search"] == 3 and payback["affiliate"] == 2
    assert payback["referral"] == 1 and payback["social"] == 1
