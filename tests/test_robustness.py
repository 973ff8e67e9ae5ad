"""Whole reports on data the models cannot fully use: short histories and spend that never varies.

Each case runs the real notebooks through :func:`clc_lib.report.run_report` on a small config
written to ``tmp_path`` and checks that every page rendered, that the sections which cannot be
computed say so in one line, and that model notes reach the page and not the runner's console.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import PROJECT_ROOT

DEMO = PROJECT_ROOT / "data" / "raw" / "demo"
DEMO_END = pd.Timestamp("2024-12-31")
MODEL_NOTEBOOKS = ["03_monetisation", "04_retention", "05_recovery"]


def _page_lines(page: Path) -> list[str]:
    """The one-line notes and skip lines of a rendered page."""
    return [html.unescape(re.sub(r"<[^>]+>", "", line))
            for line in re.findall(r'<div class="clc-missing(?: clc-skipped)?">(.*?)</div>', page.read_text(encoding="utf-8"))]


def _run(config: Path, out: Path, only: list[str] | None = None):
    from clc_lib.report import run_report

    console: list[str] = []
    result = run_report(config, out=out, only=only, jobs=1, echo=console.append)
    return result, console


def _fixed_price_shop(folder: Path) -> Path:
    """A small subscription-box shop: 600 visitors, 155 of them buy (455 orders), every order 19.90.

    Buyers differ in how often they buy and in their chance of leaving after each purchase, so the
    purchase model is identified; spend is not, since it never varies.
    """
    rng = np.random.default_rng(13)
    start, end = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-12-30")
    orders, events = [], []
    for visitor in range(600):
        channel = ("search", "social")[visitor % 2]
        day = start + pd.Timedelta(days=int(rng.integers(0, 300)))
        events.append((f"v{visitor:03d}", None, day, "visit", channel))
        if visitor >= 155:
            continue
        days_between, chance_to_leave = rng.gamma(1.0, 45.0), rng.beta(2.0, 4.0)
        while day <= end:
            orders.append((f"c{visitor:03d}", f"o{len(orders):04d}", day + pd.Timedelta(hours=10), 19.90))
            events.append((f"v{visitor:03d}", f"c{visitor:03d}", day + pd.Timedelta(hours=10), "purchase", channel))
            if rng.random() < chance_to_leave:
                break
            day += pd.Timedelta(days=max(1, int(rng.exponential(days_between))))
    assert len(orders) == 455
    pd.DataFrame(orders, columns=["customer", "order", "time", "amount"]).to_csv(folder / "orders.csv", index=False)
    pd.DataFrame(events, columns=["person", "customer", "time", "event", "source"]).to_csv(
        folder / "events.csv", index=False)
    config = {
        "name": "boxes", "currency": "EUR", "period": "M", "as_of": "2024-12-31",
        "transactions": {"path": "orders.csv",
                         "columns": {"customer_id": "customer", "order_id": "order", "timestamp": "time",
                                     "amount": "amount"}},
        "events": {"path": "events.csv",
                   "columns": {"person_id": "person", "customer_id": "customer", "timestamp": "time",
                               "event_type": "event", "channel": "source"}},
    }
    (folder / "run.yaml").write_text(yaml.safe_dump(config))
    return folder / "run.yaml"


def _one_time_buyers(folder: Path) -> Path:
    """Every customer bought exactly once: no purchase model can estimate repeat buying."""
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(300) % 360, unit="D")
    transactions = pd.DataFrame({"customer": [f"c{i:03d}" for i in range(300)],
                                 "order": [f"o{i:03d}" for i in range(300)], "time": days,
                                 "amount": 10.0 + np.arange(300) % 7})
    transactions.to_csv(folder / "orders.csv", index=False)
    config = {"name": "once", "currency": "EUR", "period": "M", "as_of": "2024-12-31",
              "transactions": {"path": "orders.csv",
                               "columns": {"customer_id": "customer", "order_id": "order", "timestamp": "time",
                                           "amount": "amount"}}}
    (folder / "run.yaml").write_text(yaml.safe_dump(config))
    return folder / "run.yaml"


@pytest.mark.slow
def test_a_fixed_price_shop_gets_every_page_with_the_constant_spend_note(tmp_path, capfd):
    config = _fixed_price_shop(tmp_path)
    result, console = _run(config, tmp_path / "reports", only=MODEL_NOTEBOOKS)
    assert [(n.name, n.status) for n in result.notebooks] == [(name, "ok") for name in MODEL_NOTEBOOKS]
    constant_note = "every repeat buyer has the same mean spend (19.9 per repeat purchase day)"
    for name in MODEL_NOTEBOOKS:
        lines = _page_lines(result.path / f"{name}.html")
        assert any(constant_note in line for line in lines), (name, lines)
        assert not any("Gamma-Gamma" in line and line.startswith("Not shown") for line in lines), (name, lines)
    # The notes went to the pages and the notebook logs, not to the runner's console or stderr.
    assert constant_note in (result.path / "logs" / "03_monetisation.log").read_text(encoding="utf-8")
    captured = capfd.readouterr()
    assert "UserWarning" not in captured.err + captured.out + "\n".join(console)
    assert any("model note(s)" in line for line in console)


@pytest.mark.slow
def test_one_time_buyers_skip_the_model_sections_in_one_line_and_render_the_rest(tmp_path):
    config = _one_time_buyers(tmp_path)
    result, _ = _run(config, tmp_path / "reports", only=MODEL_NOTEBOOKS)
    assert [(n.name, n.status) for n in result.notebooks] == [(name, "ok") for name in MODEL_NOTEBOOKS]
    expected = {"03_monetisation": ["Not shown: the predicted CLV. BG/NBD: no customer has a repeat purchase"],
                "04_retention": ["Not shown: the probability of being alive. BG/NBD: no customer has a repeat purchase",
                                 "Not shown: the model holdout validation. BG/NBD: no customer has a repeat purchase"],
                "05_recovery": ["Not shown: the win-back candidates. BG/NBD: no customer has a repeat purchase"]}
    for name, starts in expected.items():
        lines = _page_lines(result.path / f"{name}.html")
        for start in starts:
            assert any(line.startswith(start) for line in lines), (name, lines)
        assert "Data quality: rows per table and rule" in (result.path / f"{name}.html").read_text(encoding="utf-8")


def _demo_cut(folder: Path, months: int) -> Path:
    """The demo's transactions of the last ``months`` months, transactions only."""
    if not (DEMO / "run.yaml").is_file():
        from clc_lib.demo import write_demo_data

        write_demo_data(DEMO)
    demo = yaml.safe_load((DEMO / "run.yaml").read_text())
    transactions = pd.read_parquet(DEMO / demo["transactions"]["path"])
    timestamps = pd.to_datetime(transactions[demo["transactions"]["columns"]["timestamp"]])
    transactions[timestamps > DEMO_END - pd.DateOffset(months=months)].to_parquet(folder / "transactions.parquet")
    config = {"name": f"last{months}", "currency": demo["currency"], "period": demo["period"],
              "as_of": DEMO_END.date().isoformat(),
              "transactions": {"path": "transactions.parquet", "columns": demo["transactions"]["columns"]}}
    (folder / "run.yaml").write_text(yaml.safe_dump(config))
    return folder / "run.yaml"


@pytest.mark.slow
@pytest.mark.parametrize("months", [1, 3, 6, 12])
def test_every_notebook_renders_on_a_short_history(tmp_path, months):
    config = _demo_cut(tmp_path, months)
    result, _ = _run(config, tmp_path / "reports")
    assert [n.status for n in result.notebooks] == ["ok"] * 5, [(n.name, n.error) for n in result.notebooks]
    holdout = [line for line in _page_lines(result.path / "04_retention.html") if line.startswith("Holdout:")]
    assert len(holdout) == 1
    history_days = int(re.search(r"fitted on the (\d+) days", holdout[0]).group(1))
    holdout_days = int(re.search(r"the last (\d+) days", holdout[0]).group(1))
    assert holdout_days <= (holdout_days + history_days) / 3
    assert "Shortened" in holdout[0]  # 26 weeks is more than a third of up to 12 months


@pytest.mark.slow
def test_acquisition_on_one_month_skips_the_repeat_rate_and_payback_in_one_line_each(tmp_path):
    result, _ = _run(_demo_cut(tmp_path, 1), tmp_path / "reports", only=["02"])
    assert [n.status for n in result.notebooks] == ["ok"], [(n.name, n.error) for n in result.notebooks]
    lines = _page_lines(result.path / "02_acquisition.html")
    # the cut keeps transactions after 2024-11-30 00:00, so the first purchases are on 30 November
    assert ("Not shown: the 90-day repeat rate. No monthly cohort's 90-day repeat window has elapsed by 2024-12-31 "
            "(the earliest cohort in the data starts on 2024-11-01); it needs customers acquired in a month that "
            "ended on or before 2024-10-02, 90 days before the cut-off date.") in lines
    assert ("Not shown: the payback curve and LTV:CAC. The earliest customers (first purchase on 2024-11-30, data to "
            "2024-12-31) have been observed for 1 full month(s); the curve needs customers acquired at least 2 "
            "months (61 days) before the cut-off date.") in lines
    # the only charts left are new customers per period and the time to the second purchase
    page = result.path.joinpath("02_acquisition.html").read_text(encoding="utf-8")
    assert len(re.findall(r"<img\b", page)) == 2
