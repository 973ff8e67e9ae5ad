"""Runs over time: partial (--only) runs, per-report deltas and pruning, on hand-built run folders."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from clc_lib.index import add_changes, previous_runs_by_report, write_index
from clc_lib.publishing import RUN_MANIFEST, STATUS_COMPLETE, STATUS_FAILED, STATUS_PARTIAL, prune_plan
from clc_lib.report import NotebookRun, ReportRun


def _publish(config_folder: Path, run_id: str, status: str, notebooks: dict[str, tuple[str, int]]) -> None:
    """A published run folder whose run.json holds ``{name: (status, customers)}``."""
    folder = config_folder / run_id
    folder.mkdir(parents=True)
    entries = [{"name": name, "status": nb_status,
                "key_figures": [{"label": "Customers", "kind": "count", "value": customers}]}
               for name, (nb_status, customers) in notebooks.items()]
    (folder / RUN_MANIFEST).write_text(json.dumps({"run_id": run_id, "status": status, "notebooks": entries}),
                                       encoding="utf-8")


def test_deltas_compare_each_report_with_the_last_run_in_which_it_ran(tmp_path):
    _publish(tmp_path, "20240101-000000_a", STATUS_COMPLETE, {"01_seg": ("ok", 10), "02_val": ("ok", 50)})
    _publish(tmp_path, "20240102-000000_b", STATUS_PARTIAL, {"01_seg": ("ok", 12)})
    _publish(tmp_path, "20240103-000000_c", STATUS_FAILED, {"01_seg": ("ok", 13), "02_val": ("failed", 0)})
    previous = previous_runs_by_report(tmp_path, ["01_seg", "02_val", "03_new"])
    assert previous["01_seg"][0] == "20240103-000000_c"
    assert previous["02_val"][0] == "20240101-000000_a"  # the failed run does not count for 02_val
    assert "03_new" not in previous

    runs = [NotebookRun(name=name, title=name, status="ok",
                        key_figures=[{"label": "Customers", "kind": "count", "value": value}])
            for name, value in (("01_seg", 15), ("02_val", 55), ("03_new", 1))]
    add_changes(runs, previous)
    assert runs[0].key_figures[0]["previous"] == 13 and runs[0].compared_with == "20240103-000000_c"
    assert runs[1].key_figures[0]["previous"] == 50 and runs[1].compared_with == "20240101-000000_a"
    assert runs[2].key_figures[0]["change"] == "" and runs[2].compared_with is None


def test_pruning_keeps_the_newest_complete_run_when_partial_runs_follow(tmp_path):
    _publish(tmp_path, "20240101-000000_a", STATUS_COMPLETE, {"01_seg": ("ok", 10)})
    _publish(tmp_path, "20240102-000000_b", STATUS_COMPLETE, {"01_seg": ("ok", 10)})
    _publish(tmp_path, "20240103-000000_c", STATUS_PARTIAL, {"01_seg": ("ok", 10)})
    pruned = prune_plan(tmp_path, 2, "20240104-000000_d", latest=None, new_run_complete=False)
    assert pruned == ["20240101-000000_a"]  # 20240102 is the newest complete run and stays
    # With latest pointing at an older run, both it and the newest complete run stay.
    pruned = prune_plan(tmp_path, 1, "20240104-000000_d", latest="20240101-000000_a", new_run_complete=False)
    assert pruned == ["20240103-000000_c"]
    # A new complete run is itself the newest complete run: older ones may go.
    pruned = prune_plan(tmp_path, 2, "20240104-000000_d", latest="20240102-000000_b")
    assert pruned == ["20240101-000000_a"]


def test_partial_run_exits_zero_and_its_index_says_which_reports_it_holds(tmp_path):
    notebook = NotebookRun(name="01_seg", title="Segmentation", status="ok")
    run = ReportRun(run_id="r", config_name="demo", path=tmp_path, status=STATUS_PARTIAL, notebooks=[notebook])
    assert run.exit_code == 0
    assert ReportRun(run_id="r", config_name="demo", path=tmp_path, status=STATUS_FAILED,
                     notebooks=[notebook]).exit_code == 1
    manifest = {"run_id": "r", "config_name": "demo", "config": "demo.yaml", "status": STATUS_PARTIAL,
                "started": "", "finished": "", "seconds": 1.0,
                "previous_run": None, "data": {}, "privacy": {}, "versions": {},
                "notebooks": [asdict(notebook)]}
    write_index(tmp_path, manifest)
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "Partial run." in index and "holds only Segmentation" in index
    assert 'href="../latest/index.html"' in index
