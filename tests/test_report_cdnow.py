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
    # the optional tables are absent: each section says so in one line, naming the data that would switch
    # it on, and the "how to read" text of its missing chart is left out
    recovery = (run.path / "05_recovery.html").read_text(encoding="utf-8")
    assert ("Not shown: campaign uplift against control. Add a campaigns table (who was sent which campaign, "
            "best with a control group) to the run config to see it.") in recovery
    assert "Not shown: survey scores and reasons. Add a surveys table" in recovery
    assert "With a control group, the chart shows" not in recovery
    assert "The score distribution of respondents" not in recovery
    monetisation = (run.path / "03_monetisation.html").read_text(encoding="utf-8")
    assert "Not shown: cross-sell breadth. Add a category column to the transactions table to see it." in monetisation
    assert "A large single-category share is room for cross-sell" not in monetisation
    segmentation = next(n for n in run.notebooks if n.name == "01_segmentation")
    customers = next(f for f in segmentation.key_figures if f["label"] == TERMS["customer"].label)
    assert customers["value"] == 23_570
    # The runner computed the results the notebooks share once; none was left to the notebooks.
    log = (run.path / "run.log").read_text(encoding="utf-8")
    assert "computed once for every notebook" in log and "customer value" in log
    assert "left to the notebooks" not in log
