"""Reports 04 and 05 on variants of the demo export: an earlier as_of, campaigns without a control
group, and a customers table with attributes but no acquisition channel."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

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


@pytest.mark.slow
def test_reports_render_without_a_control_group_and_without_an_acquisition_channel(tmp_path, demo_config):
    campaigns = pd.read_csv(DEMO_DIR / "campaigns.csv", dtype=str).drop(columns="Group")
    campaigns.to_csv(tmp_path / "campaigns.csv", index=False)
    customers = pd.read_csv(DEMO_DIR / "customers.csv", dtype=str).drop(columns="acquisition_source")
    rng = np.random.default_rng(5)
    customers["age_band"] = rng.choice(["18-24", "25-34", "35-44", "45-64", "65+", "n/a"], len(customers),
                                       p=[0.15, 0.3, 0.25, 0.25, 0.0499, 0.0001])
    customers["household_size"] = rng.integers(1, 6, len(customers)).astype(str)
    customers["income"] = (rng.lognormal(10.5, 0.4, len(customers)) // 100 * 100).astype(int).astype(str)
    customers.loc[rng.random(len(customers)) < 0.2, "income"] = ""
    customers.to_csv(tmp_path / "customers.csv", index=False)
    campaign_columns = {k: v for k, v in demo_config["campaigns"]["columns"].items() if k != "group"}
    config = {**demo_config,
              "campaigns": {"path": "campaigns.csv", "columns": campaign_columns},
              "customers": {"path": "customers.csv", "columns": {"customer_id": "customer_number",
                                                                 "first_seen": "created_at"}}}
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
                     r"uplift of 2 points over a response rate of [\d.]+% with 80% power \(5% level\), each group "
                     r"needs [\d,]+ customers \(this send contacted [\d,]+\)\.", recovery)
