"""A real report run on hostile data: escaping (checked in Chromium), pseudonyms, personal data, secrets, paths.

One small demo business (1,000 customers) is altered so that customer ids, product ids, categories,
order and acquisition channels, campaign ids, survey reasons and comments carry script payloads; its
customers and surveys carry names, e-mail addresses and phone numbers; its surveys come from a
DuckDB file whose folder name is a secret given as ``${CLC_TEST_SECRET}``. ``clc report`` runs on
it once with every notebook (shared with tests/test_browser.py through the session's temporary
folder), then once more with the same config and as_of for 05 (key figures, model fits and a list of
customers): the figures and the pseudonyms must be the same.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # a whole report run, checked in Chromium

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CLC = Path(sys.executable).with_name("clc")
SALT = "test-salt-security-0123456789abcdef"

PAYLOADS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>')
SCRIPT, IMG, SVG = PAYLOADS
# Acquisition channels (customers, events, spend), order channels, categories, campaigns, survey reasons.
CHANNELS = {"social": f"{SCRIPT}social", "affiliate": f"{IMG}affiliate", "referral": f"{SVG}referral"}
ORDER_CHANNELS = {"app": f"{IMG}app"}
CATEGORIES = {"Beauty": f"{SCRIPT}Beauty", "Home": f"{SVG}Home", "Sports": f"{IMG}Sports"}
REASONS = {"price": f"{IMG}price", "delivery": f"{SCRIPT}delivery"}
CAMPAIGN = f"{SCRIPT}WB"
# Personal data that must never reach a page: distinctive so that a grep cannot miss or mistake it.
FIRST_NAME, LAST_NAME = "Zelphine", "Quaxtonbury"
EMAIL_DOMAIN = "privacy-probe.example"
PHONE_PREFIX = "+44 20 7946 "


def hostile_id(customer_id: str) -> str:
    """Every even-numbered customer id carries one of the payloads (the same in every table)."""
    return PAYLOADS[int(customer_id) % 3] + customer_id if int(customer_id) % 2 == 0 else customer_id


def write_hostile_business(folder: Path, secret: str) -> Path:
    """The small demo business with payloads, personal data and a secret-named DuckDB file; returns run.yaml."""
    import duckdb

    from clc_lib.demo import write_demo_data

    config = write_demo_data(folder, n_customers=1000)
    spec = __import__("yaml").safe_load(config.read_text(encoding="utf-8"))

    transactions = pd.read_parquet(folder / "transactions.parquet")
    transactions["CustomerID"] = transactions["CustomerID"].map(hostile_id)
    transactions["Category"] = transactions["Category"].replace(CATEGORIES)
    transactions["Channel"] = transactions["Channel"].replace(ORDER_CHANNELS)
    transactions["StockCode"] = transactions["StockCode"].where(transactions.index % 5 != 0, f"{SVG}sku")
    transactions.to_parquet(folder / "transactions.parquet", index=False)

    customers = pd.read_csv(folder / "customers.csv", dtype=str)
    numbers = customers["customer_number"].astype(int)
    customers["customer_number"] = customers["customer_number"].map(hostile_id)
    customers["acquisition_source"] = customers["acquisition_source"].replace(CHANNELS)
    customers["first_name"] = FIRST_NAME
    customers["last_name"] = [f"{LAST_NAME}{n}" for n in numbers]
    customers["email"] = [f"zq{n}@{EMAIL_DOMAIN}" for n in numbers]
    customers["phone"] = [f"{PHONE_PREFIX}{n:04d}" for n in numbers]
    customers.to_csv(folder / "customers.csv", index=False)

    events = pd.read_parquet(folder / "events.parquet")
    for column in ("distinct_id", "user_id"):
        events[column] = events[column].map(lambda v: hostile_id(v) if isinstance(v, str) and v.isdigit() else v)
    events["utm_source"] = events["utm_source"].replace(CHANNELS)
    events.to_parquet(folder / "events.parquet", index=False)

    spend = pd.read_csv(folder / "spend.csv")
    spend["Channel"] = spend["Channel"].replace(CHANNELS)
    spend.to_csv(folder / "spend.csv", index=False)

    campaigns = pd.read_csv(folder / "campaigns.csv", dtype=str)
    campaigns["CustomerID"] = campaigns["CustomerID"].map(hostile_id)
    campaigns["CampaignID"] = CAMPAIGN
    campaigns.to_csv(folder / "campaigns.csv", index=False)

    surveys = pd.read_csv(folder / "surveys.csv", dtype=str)
    numbers = surveys["CustomerID"].astype(int)
    surveys["CustomerID"] = surveys["CustomerID"].map(hostile_id)
    surveys["Reason"] = surveys["Reason"].replace(REASONS)
    surveys["Comment"] = [f"{PAYLOADS[i % 3]} call me on {PHONE_PREFIX}{n:04d} or zq{n}@{EMAIL_DOMAIN}"
                          for i, n in enumerate(numbers)]
    surveys["full_name"] = [f"{FIRST_NAME} {LAST_NAME}{n}" for n in numbers]
    surveys["contact_email"] = [f"zq{n}@{EMAIL_DOMAIN}" for n in numbers]
    vault = folder / f"vault-{secret}"
    vault.mkdir()
    with duckdb.connect(str(vault / "shop.duckdb")) as con:
        con.register("frame", surveys)
        con.execute("CREATE TABLE surveys AS SELECT * FROM frame")
    (folder / "surveys.csv").unlink()

    spec["name"] = "hostile"
    if spec.get("margin", {}).get("by") == "category":  # the demo's margin rates follow the renamed categories
        spec["margin"]["rates"] = {CATEGORIES.get(name, name): rate for name, rate in spec["margin"]["rates"].items()}
    spec["surveys"] = {"connection": "duckdb:///vault-${CLC_TEST_SECRET}/shop.duckdb", "table": "surveys",
                       "columns": spec["surveys"]["columns"]}
    config.write_text(__import__("yaml").safe_dump(spec, sort_keys=False), encoding="utf-8")
    return config


def run_clc(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLC), *args], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=PROJECT_ROOT, check=False)


def hostile_report(base: Path) -> dict:
    """The hostile business and its first (complete) report run, made once per test session."""
    folder = base / "hostile"
    done = folder / "done.json"
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8"))
    secret = "tok" + secrets.token_hex(12)
    folder.mkdir(parents=True, exist_ok=True)
    config = write_hostile_business(folder / "data", secret)
    env = {**os.environ, "CLC_ID_SALT": SALT, "CLC_TEST_SECRET": secret, "MPLBACKEND": "Agg"}
    out = folder / "reports"
    completed = run_clc("report", "--config", str(config), "--out", str(out), env=env)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    run = (out / "latest").resolve()
    info = {"config": str(config), "out": str(out), "run": str(run), "secret": secret,
            "stdout": completed.stdout, "stderr": completed.stderr}
    done.write_text(json.dumps(info), encoding="utf-8")
    return info


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict:
    return hostile_report(tmp_path_factory.getbasetemp())


def run_files(run: Path) -> dict[str, str]:
    return {str(p.relative_to(run)): p.read_text(encoding="utf-8", errors="replace")
            for p in sorted(run.rglob("*")) if p.is_file()}


def test_run_is_complete_and_every_page_exists(hostile):
    run = Path(hostile["run"])
    manifest = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "complete"
    assert [nb["status"] for nb in manifest["notebooks"]] == ["ok"] * 5
    assert manifest["privacy"] == {"pseudonymise_ids": True, "salt": "CLC_ID_SALT"}


def test_payloads_are_escaped_text_in_the_html(hostile):
    pages = {name: text for name, text in run_files(Path(hostile["run"])).items() if name.endswith(".html")}
    everything = "\n".join(pages.values())
    for payload in PAYLOADS:
        assert payload not in everything  # never as markup

    def shown_as_text(value: str, page: str) -> bool:
        # Angle brackets must be entities; a quote is harmless in text and may or may not be one.
        escaped = re.escape(value.replace("<", "&lt;").replace(">", "&gt;")).replace('"', '(?:"|&quot;)')
        return re.search(escaped, page) is not None

    # Channels and campaign ids in tables, survey reasons in the reasons table.
    for value in (CHANNELS["social"], CHANNELS["affiliate"], CHANNELS["referral"]):
        assert shown_as_text(value, pages["02_acquisition.html"]), value
    assert shown_as_text(CAMPAIGN, pages["05_recovery.html"])
    assert shown_as_text(REASONS["price"], pages["05_recovery.html"])
    for name, page in pages.items():
        tags = _start_tags(page)
        assert "script" not in {tag for tag, _ in tags}, name  # the pages ship no script at all
        # No live event handler: a payload may appear inside an attribute's value (a chart's alt text
        # names the channels), but never as an attribute of its own.
        assert not [(tag, attribute) for tag, attributes in tags for attribute in attributes
                    if attribute.startswith("on")], name


def _start_tags(page: str) -> list[tuple[str, list[str]]]:
    """Every start tag of an HTML page with its attribute names, as a browser's tokenizer reads them."""
    found = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, [name.lower() for name, _ in attrs]))

        handle_startendtag = handle_starttag

    Tags(convert_charrefs=True).feed(page)
    return found


def test_no_customer_id_and_no_personal_data_reaches_any_page(hostile):
    run = Path(hostile["run"])
    pages = {name: text for name, text in run_files(run).items() if name.endswith(".html")}
    at_risk = pages["04_retention.html"] + pages["05_recovery.html"]
    pseudonyms = re.findall(r"<th[^>]*>(C-[0-9a-f]{12})</th>", at_risk)
    assert len(pseudonyms) >= 20  # the at-risk and win-back lists show customers by pseudonym
    for name, page in pages.items():
        # Embedded charts are base64: four digits turn up in them by chance, so the text is checked without them.
        page = re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "data:image", page)
        for personal in (FIRST_NAME, LAST_NAME, EMAIL_DOMAIN, PHONE_PREFIX, "7946", "full name", "contact email"):
            assert personal not in page, (name, personal)
        # Raw ids (000123, or a payload followed by the digits) appear nowhere as a table cell.
        assert not re.search(r"<t[hd]>\d{6}</t[hd]>", page), name
        assert not re.search(r"(&gt;|>)\d{6}</t[hd]>", page), name


def test_secret_and_local_paths_never_reach_the_run_folder(hostile):
    run = Path(hostile["run"])
    secret = hostile["secret"]
    local = [str(PROJECT_ROOT), str(Path(hostile["out"]).parent), str(Path.home()) + "/"]
    for name, text in run_files(run).items():
        assert secret not in text, name
        if name.endswith((".html", ".log", ".json")):
            for folder in local:
                assert folder not in text, (name, folder)
    for name, text in run_files(run).items():
        if name.endswith(".ipynb"):
            assert str(PROJECT_ROOT) not in text and str(Path(hostile["out"]).parent) not in text, name
    assert secret not in hostile["stdout"] + hostile["stderr"]
    # The config still shows where the secret goes, by name only.
    quality = (run / "index.html").read_text(encoding="utf-8")
    assert "${CLC_TEST_SECRET}" in quality


def test_same_config_and_as_of_give_the_same_figures_and_pseudonyms(hostile):
    """Re-run the recovery report (key figures, CLV model fits, the win-back list) on the same input."""
    env = {**os.environ, "CLC_ID_SALT": SALT, "CLC_TEST_SECRET": hostile["secret"], "MPLBACKEND": "Agg"}
    completed = run_clc("report", "--config", hostile["config"], "--out", hostile["out"], "--only", "05",
                        "--as-of", "2024-12-31", env=env)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    # an --only run is partial: 'latest' stays on the complete run, so take the folder the run printed
    second = Path(re.search(r"^Reports: (.+)/index\.html$", completed.stdout, re.MULTILINE).group(1))
    first = Path(hostile["run"])
    assert first != second and (Path(hostile["out"]) / "latest").resolve() == first

    def recovery_figures(run: Path) -> list[dict]:
        manifest = json.loads((run / "run.json").read_text(encoding="utf-8"))
        return next(nb["key_figures"] for nb in manifest["notebooks"] if nb["name"] == "05_recovery")

    before, after = recovery_figures(first), recovery_figures(second)
    assert len(after) >= 4
    assert [(f["label"], f["value"]) for f in after] == [(f["label"], f["value"]) for f in before]
    assert {f["change"] for f in after if f["kind"] != "text"} == {"unchanged"}
    lists = [re.findall(r"<th[^>]*>(C-[0-9a-f]{12})</th>", (run / "05_recovery.html").read_text(encoding="utf-8"))
             for run in (first, second)]
    assert len(lists[0]) >= 20 and lists[0] == lists[1]  # the same customers, the same pseudonyms


def test_payload_ids_of_an_internal_run_are_text_in_chromium(tmp_path):
    """Internal runs show real ids: a table of payload ids, rendered as a report page, runs nothing."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from clc_lib.tables import table_html
    from clc_lib.rendering import render_html

    frame = pd.DataFrame({"customer_id": list(PAYLOADS), "clv": [1.0, 2.0, 3.0]}).set_index("customer_id")
    notebook = new_notebook()
    notebook.cells = [new_markdown_cell("# Internal list"),
                      new_code_cell("show", outputs=[new_output("display_data", data={
                          "text/html": table_html(frame, pseudonymise=False)})])]
    executed = tmp_path / "internal.ipynb"
    nbformat.write(notebook, executed)
    page = tmp_path / "internal.html"
    render_html(executed, page, title="Internal list", error=None, run_label="internal")
    from test_browser import open_browser

    with open_browser() as browser:
        visit = browser.visit(page)
    assert visit.dialogs == [] and visit.console_errors == []
    for payload in PAYLOADS:
        assert payload in visit.text
    assert visit.script_count == 0


def test_hostile_pages_run_nothing_in_chromium(hostile):
    from test_browser import open_browser

    run = Path(hostile["run"])
    with open_browser() as browser:
        for page in ["index.html", *sorted(p.name for p in run.glob("0*.html"))]:
            visit = browser.visit(run / page)
            assert visit.dialogs == [], (page, visit.dialogs)
            assert visit.script_count == 0, page
            assert visit.console_errors == [], (page, visit.console_errors)
            if page == "02_acquisition.html":
                assert f"{SCRIPT}social" in visit.full_text and f"{IMG}affiliate" in visit.full_text
            if page == "05_recovery.html":
                assert f"{SCRIPT}WB" in visit.full_text
