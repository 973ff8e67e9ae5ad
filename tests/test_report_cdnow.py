"""`clc report` on real, transactions-only data (CDNOW master) renders all five reports and the index."""

from __future__ import annotations


import pytest

from clc_lib.definitions import TERMS

REPORTS = ("01_segmentation", "02_acquisition", "03_monetisation", "04_retention", "05_recovery")


@pytest.mark.slow
def test_cdnow_transactions_only_run_renders_every_report(cdnow_report_run):
    run = cdnow_report_run
    index = (run.path / "index.html").read_text(encoding="utf-8")
    for name in REPORTS:
        page = (run.path / f"{name}.html").read_text(encoding="utf-8")
        assert "Traceback" not in page
        assert f'href="{name}.html"' in index
    # the optional tables are absent: each report says so instead of failing
    assert "not configured" in (run.path / "05_recovery.html").read_text(encoding="utf-8")
    segmentation = next(n for n in run.notebooks if n.name == "01_segmentation")
    customers = next(f for f in segmentation.key_figures if f["label"] == TERMS["customer"].label)
    assert customers["value"] == 23_570
    # The runner computed the results the notebooks share once; none was left to the notebooks.
    log = (run.path / "run.log").read_text(encoding="utf-8")
    assert "computed once for every notebook" in log and "customer value" in log
    assert "left to the notebooks" not in log
