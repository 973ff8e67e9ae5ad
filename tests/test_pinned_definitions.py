"""Pinned lifecycle definitions: the stage thresholds of a config's first report run are kept by later
runs (definitions.json), derived again only on request, and the index flags comparisons across
different definitions.

The runs here load and check real data (a small synthetic shop) with the runner's own input check;
only the notebook execution is replaced by a stand-in that records what the notebook was given.
"""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from clc_lib import publishing, report
from clc_lib import run as run_module
from clc_lib.pinning import DEFINITIONS_FILE, read_definitions
from clc_lib.errors import ConfigError
from clc_lib.handoff import KEY_FIGURES_MIME
from clc_lib.run import load_run
from clc_lib.report import run_report
from clc_lib.settings import ReportSettings
from clc_lib.stages import derive_stage_rules

SALT = "test-salt-0123456789abcdef"
EARLY, LATE = "2023-04-30", "2023-12-31"


def shop_transactions() -> pd.DataFrame:
    """60 customers; customer i buys every 5 + 3 i days through 2023. Up to April only gaps of at most
    about 120 days can be seen; by December gaps up to 182 days are, so the derived thresholds grow."""
    rows = []
    for i in range(60):
        gap = 5 + 3 * i
        for n, day in enumerate(pd.date_range("2023-01-01", "2023-12-31", freq=f"{gap}D")):
            rows.append({"customer_id": f"c{i}", "order_id": f"o{i}-{n}", "timestamp": day + pd.Timedelta(hours=10),
                         "amount": 10.0 + i})
    return pd.DataFrame(rows)


def gaps_up_to(transactions: pd.DataFrame, as_of: str) -> np.ndarray:
    """The gaps in days between consecutive purchase days of each customer, up to as_of (by hand)."""
    days = transactions.assign(day=transactions["timestamp"].dt.normalize())
    days = days[days["day"] <= pd.Timestamp(as_of)].drop_duplicates(["customer_id", "day"])
    return days.sort_values("day").groupby("customer_id")["day"].diff().dropna().dt.days.to_numpy()


def gap_quantile(transactions: pd.DataFrame, as_of: str, q: float) -> float:
    return float(np.quantile(gaps_up_to(transactions, as_of), q))


def write_notebook(path, *, declares_stage_rules: bool = True):
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = 'config: str = "run.yaml"  # run config\nas_of: str | None = None  # cut-off date'
    if declares_stage_rules:
        parameters += "\nstage_rules: dict | None = None  # pinned thresholds; None = derived"
    notebook.cells = [new_markdown_cell("# Segments\n\nStages."),
                      new_code_cell(parameters, metadata={"tags": ["parameters"]}),
                      new_code_cell("x = 1")]
    nbformat.write(notebook, path)
    return path


@pytest.fixture()
def shop(tmp_path, monkeypatch):
    """A config with real data, one notebook, and a stand-in for papermill that records the parameters
    each notebook got and records a key figure (customers churned under the thresholds it was given)."""
    transactions = shop_transactions()
    transactions.to_csv(tmp_path / "tx.csv", index=False)
    config = tmp_path / "run.yaml"
    config.write_text("name: shop\ncurrency: EUR\ntransactions: {path: tx.csv}\n", encoding="utf-8")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "01_segments.ipynb")
    passed: list[dict] = []

    def stand_in(task):
        parameters = report.notebook_parameters(task)
        passed.append(parameters)
        run = load_run(parameters["config"], as_of=parameters["as_of"], stage_rules=parameters.get("stage_rules"))
        churn_days = run.stage_rules().thresholds["churn_days"]
        executed = nbformat.read(task.source, as_version=4)
        executed.cells.append(new_code_cell("clc.show_key_figures(...)", outputs=[new_output("display_data", data={
            "text/html": "<div>cards</div>", KEY_FIGURES_MIME: {"key_figures": [
                {"label": "Churn threshold", "value": churn_days, "kind": "days",
                 "formatted": f"{churn_days:.0f} days"},
                {"label": "Currency", "value": "EUR", "kind": "text", "formatted": "EUR"},
            ]}})]))
        nbformat.write(executed, task.executed)
        task.log.write_text("executed by the test stand-in\n")
        return True, None

    monkeypatch.setattr(report, "execute_notebook", stand_in)
    monkeypatch.setattr(run_module, "SHARED_RESULTS", {"stage rules": lambda run: run.stage_rules()})
    monkeypatch.setenv("CLC_ID_SALT", SALT)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "reports"

    def run(as_of, **kwargs):
        return run_report(config, out=out, as_of=as_of, notebooks_dir=notebooks, echo=None, jobs=1, **kwargs)

    return {"config": config, "out": out, "run": run, "passed": passed, "transactions": transactions,
            "folder": out / "shop", "notebooks": notebooks, "tmp": tmp_path}


def manifest(run) -> dict:
    return json.loads((run.path / "run.json").read_text(encoding="utf-8"))


def test_later_runs_keep_the_thresholds_of_the_first_run(shop):
    first = shop["run"](EARLY)
    definitions_file = shop["folder"] / DEFINITIONS_FILE
    pinned = json.loads(definitions_file.read_text(encoding="utf-8"))
    early_churn = gap_quantile(shop["transactions"], EARLY, 0.95)
    late_churn = gap_quantile(shop["transactions"], LATE, 0.95)
    assert round(late_churn) > round(early_churn) + 10  # the data alone would move the threshold
    assert pinned["thresholds"]["churn_days"] == {
        "value": round(early_churn), "origin": "data", "as_of": EARLY, "run_id": first.run_id,
        "source": f"derived from the data up to {EARLY} as the 95% quantile of "
                  f"{len(gaps_up_to(shop['transactions'], EARLY)):,} gaps between purchase days"}
    assert pinned["as_of"] == EARLY and pinned["run_id"] == first.run_id
    assert manifest(first)["definitions"]["mode"] == "first"
    assert manifest(first)["definitions"]["pinned_by_this_run"] is True
    assert shop["passed"][0]["stage_rules"] is None  # the first run derives them in the notebook too

    second = shop["run"](LATE)
    used = manifest(second)["definitions"]
    assert used["mode"] == "pinned"
    assert used["thresholds"] == manifest(first)["definitions"]["thresholds"]
    assert used["thresholds"]["churn_days"] == round(early_churn)
    assert used["pinned_since"] == {"as_of": EARLY, "run_id": first.run_id}
    assert used["origin"]["churn_days"] == "pinned"
    assert used["sources"]["churn_days"].startswith(f"pinned since {EARLY}: derived from the data up to {EARLY}")
    # The notebook got the pinned thresholds and its own load used them.
    given = shop["passed"][1]["stage_rules"]
    assert given["churn_days"] == round(early_churn) and given["sources"]["churn_days"].startswith("pinned since")
    figures = {f["label"]: f for f in manifest(second)["notebooks"][0]["key_figures"]}
    assert figures["Churn threshold"]["value"] == round(early_churn)
    assert figures["Churn threshold"]["change"] == "unchanged"
    assert json.loads(definitions_file.read_text(encoding="utf-8")) == pinned  # not rewritten
    assert manifest(second)["definition_changes"] == []
    index = (second.path / "index.html").read_text(encoding="utf-8")
    assert f"pinned since {EARLY}" in index and "Definitions changed" not in index


def test_rederive_on_request_rewrites_the_pin_and_the_index_flags_the_change(shop):
    first = shop["run"](EARLY)
    early_churn = manifest(first)["definitions"]["thresholds"]["churn_days"]
    second = shop["run"](LATE, rederive_definitions=True)
    late_churn = round(gap_quantile(shop["transactions"], LATE, 0.95))
    used = manifest(second)["definitions"]
    assert used["mode"] == "rederived" and used["thresholds"]["churn_days"] == late_churn != early_churn
    assert used["thresholds"] == {name: round(value) for name, value in
                                  derive_stage_rules(load_run(shop["config"]).transactions, LATE).thresholds.items()}
    assert shop["passed"][1]["stage_rules"] is None
    pinned = read_definitions(shop["folder"] / DEFINITIONS_FILE)
    assert pinned.as_of == LATE and pinned.run_id == second.run_id
    assert pinned.thresholds["churn_days"].value == late_churn

    flagged = manifest(second)["definition_changes"]
    assert [entry["run"] for entry in flagged] == [first.run_id]
    churn_change = next(c for c in flagged[0]["changes"] if c["threshold"] == "churn_days")
    assert churn_change["text"] == f"churned after {late_churn} days without a purchase (was {early_churn})"
    figures = {f["label"]: f for f in manifest(second)["notebooks"][0]["key_figures"]}
    assert figures["Churn threshold"]["definitions_changed"] is True
    assert "definitions_changed" not in figures["Currency"]  # a text figure does not depend on thresholds
    index = (second.path / "index.html").read_text(encoding="utf-8")
    assert "Definitions changed since run" in index and first.run_id in index
    assert f"churned after {late_churn} days without a purchase (was {early_churn})" in index
    assert index.count("&#8225; different definitions") == 1

    third = shop["run"](EARLY)  # pinned again, now to the December thresholds
    assert manifest(third)["definitions"]["thresholds"]["churn_days"] == late_churn
    assert manifest(third)["definition_changes"] == []


def test_pin_definitions_false_derives_every_run_and_writes_no_file(shop):
    shop["config"].write_text(shop["config"].read_text() + "report: {pin_definitions: false}\n", encoding="utf-8")
    first, second = shop["run"](EARLY), shop["run"](LATE)
    assert not (shop["folder"] / DEFINITIONS_FILE).exists()
    churn = [manifest(run)["definitions"]["thresholds"]["churn_days"] for run in (first, second)]
    assert churn == [round(gap_quantile(shop["transactions"], day, 0.95)) for day in (EARLY, LATE)]
    assert manifest(second)["definitions"]["mode"] == "derived"
    assert "derived from this run's data" in (second.path / "index.html").read_text(encoding="utf-8")
    assert manifest(second)["definition_changes"][0]["run"] == first.run_id
    with pytest.raises(ConfigError, match="report.pin_definitions"):
        ReportSettings.from_mapping({"pin_definitions": "yes"})


def test_fixed_values_of_a_changed_stages_section_win_and_the_change_is_recorded(shop):
    first = shop["run"](EARLY)
    pinned = manifest(first)["definitions"]["thresholds"]
    shop["config"].write_text(shop["config"].read_text() + "stages: {churn_days: 400}\n", encoding="utf-8")
    second = shop["run"](LATE)
    used = manifest(second)["definitions"]
    assert used["thresholds"]["churn_days"] == 400 and used["origin"]["churn_days"] == "config"
    assert used["thresholds"]["dormant_days"] == pinned["dormant_days"] and used["origin"]["dormant_days"] == "pinned"
    assert len(used["config_changes"]) == 1 and used["config_changes"][0].startswith("churn_days: 400, now fixed")
    stored = read_definitions(shop["folder"] / DEFINITIONS_FILE)
    assert stored.thresholds["churn_days"].origin == "config" and stored.thresholds["churn_days"].value == 400
    assert stored.as_of == EARLY and stored.changes[-1]["run_id"] == second.run_id
    third = shop["run"](LATE)  # the change is recorded once
    assert manifest(third)["definitions"]["config_changes"] == []


def test_a_damaged_definitions_file_is_refused_naming_it(shop):
    shop["run"](EARLY)
    definitions_file = shop["folder"] / DEFINITIONS_FILE
    content = json.loads(definitions_file.read_text(encoding="utf-8"))
    runs_before = sorted(p.name for p in shop["folder"].iterdir())
    definitions_file.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{definitions_file}.*not valid JSON.*--rederive-definitions"):
        shop["run"](LATE)
    content["thresholds"]["churn_days"]["value"] = 3  # hand-edited below dormant_days
    definitions_file.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{definitions_file}.*at_risk_days < dormant_days < churn_days"):
        shop["run"](LATE)
    content["thresholds"]["churn_days"]["value"] = "many"
    definitions_file.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"thresholds.churn_days.value is 'many'"):
        shop["run"](LATE)
    assert sorted(p.name for p in shop["folder"].iterdir()) == runs_before  # nothing published
    rederived = shop["run"](LATE, rederive_definitions=True)  # the way out the message names
    assert read_definitions(definitions_file).run_id == rederived.run_id


def test_a_failed_run_pins_nothing(shop, monkeypatch):
    monkeypatch.setattr(report, "execute_notebook", lambda task: (False, "ValueError: broken"))
    failed = shop["run"](EARLY)
    assert failed.status == "failed" and not (shop["folder"] / DEFINITIONS_FILE).exists()
    assert manifest(failed)["definitions"]["pinned_by_this_run"] is False


def test_load_run_uses_given_thresholds_without_a_run_cache(shop):
    frame = shop["transactions"]
    config = {"name": "frame", "transactions": {"data": frame}}
    given = {"at_risk_days": 30, "dormant_days": 60, "churn_days": 90, "sources": {"churn_days": "agreed with CRM"}}
    rules = load_run(config, as_of=LATE, stage_rules=given).stage_rules()
    assert rules.thresholds["churn_days"] == 90 and rules.sources["churn_days"] == "agreed with CRM"
    assert rules.sources["at_risk_days"] == "run config"
    assert rules.thresholds["new_window_days"] == 30  # follows at_risk_days
    derived = load_run(config, as_of=LATE).stage_rules().thresholds["churn_days"]
    assert derived == round(gap_quantile(frame, LATE, 0.95)) != 90
    with pytest.raises(ConfigError, match="stage_rules names 'churn'"):
        load_run(config, stage_rules={"churn": 90})
    with pytest.raises(ConfigError, match=r"stage_rules\['churn_days'\] is 0"):
        load_run(config, stage_rules={"churn_days": 0})


def test_the_run_cache_is_not_shared_across_different_thresholds(shop, monkeypatch):
    from clc_lib import handoff
    from clc_lib.run import save_run_cache

    cache = shop["tmp"] / "private-cache"
    run = load_run(shop["config"], as_of=LATE, stage_rules={"churn_days": 300})
    assert save_run_cache(run, cache, config=shop["config"], as_of=LATE)
    assert run.stage_rules().thresholds["churn_days"] == 300
    monkeypatch.setattr(handoff, "_settings", handoff._NotebookSettings())
    handoff.apply_notebook_parameters(run_cache=cache)
    same = load_run(shop["config"], as_of=LATE, stage_rules={"churn_days": 300})
    assert same._results_folder is not None and same.stage_rules().thresholds["churn_days"] == 300
    other = load_run(shop["config"], as_of=LATE, stage_rules={"churn_days": 250})
    assert other._results_folder is None and other.stage_rules().thresholds["churn_days"] == 250


def test_stage_rules_go_only_to_notebooks_that_declare_them(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("name: shop\ntransactions: {path: t.csv}\n")
    pinned = {"churn_days": 292.0, "sources": {"churn_days": "pinned since 2024-05-31"}}

    def parameters(notebook, stage_rules):
        task = report._Task(source=notebook, executed=tmp_path / "x.ipynb", log=tmp_path / "x.log",
                            config=config, as_of="2024-06-30", cwd=tmp_path,
                            cell_timeout=None, start_timeout=60, stage_rules=stage_rules)
        return report.notebook_parameters(task)

    declaring = write_notebook(tmp_path / "a.ipynb")
    silent = write_notebook(tmp_path / "b.ipynb", declares_stage_rules=False)
    assert parameters(declaring, pinned) == {"config": str(config), "as_of": "2024-06-30", "stage_rules": pinned}
    assert "stage_rules" not in parameters(silent, pinned)
    assert parameters(declaring, None)["stage_rules"] is None  # the run derives them: the notebook's default


def test_a_run_that_fails_to_publish_leaves_the_pin_as_it_was(shop, monkeypatch):
    import errno
    import os

    shop["run"](EARLY)
    definitions_file = shop["folder"] / DEFINITIONS_FILE
    pinned = definitions_file.read_bytes()
    rename = os.rename

    def disk_full_on_publish(source, target):
        if str(source).rsplit("/", 1)[-1].startswith(".tmp-"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return rename(source, target)

    monkeypatch.setattr(report.os, "rename", disk_full_on_publish)
    with pytest.raises(publishing.OutputFolderError, match="disk is full"):
        shop["run"](LATE, rederive_definitions=True)
    assert definitions_file.read_bytes() == pinned


def test_clc_report_passes_rederive_definitions(monkeypatch, tmp_path):
    from clc_lib import cli

    calls = []

    def recording_run_report(config, **kwargs):
        calls.append(kwargs)
        return report.ReportRun(run_id="r", config_name="shop", path=tmp_path, status="complete", notebooks=[])

    monkeypatch.setattr(report, "run_report", recording_run_report)
    assert cli.main(["report", "--config", "run.yaml", "--rederive-definitions"]) == 0
    assert cli.main(["report", "--config", "run.yaml"]) == 0
    assert [call["rederive_definitions"] for call in calls] == [True, False]
