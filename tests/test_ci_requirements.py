"""The rule for missing test requirements (tests/conftest.py): skipped on a laptop, failed under CI."""

from __future__ import annotations

import pytest

from conftest import CDNOW_FILES, cdnow_folder, import_required, missing_requirement, running_under_ci


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("TRUE", True), ("1", True), ("yes", True),
                                                 ("", False), ("false", False), ("0", False)])
def test_ci_is_recognised_from_the_environment_variable(monkeypatch, value, expected):
    monkeypatch.setenv("CI", value)
    assert running_under_ci() is expected


def test_ci_is_off_without_the_variable(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert running_under_ci() is False


def test_a_missing_requirement_skips_outside_ci_and_fails_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="the widget is missing"):
        missing_requirement("the widget is missing")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"the widget is missing\. Under CI \(CI=true\) a missing"):
        missing_requirement("the widget is missing")


def test_a_missing_module_names_the_module_and_what_provides_it(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception,
                       match=r"The module clc_no_such_module cannot be imported .*; it comes with the test extras"):
        import_required("clc_no_such_module", "the test extras")
    assert import_required("json", "Python").dumps([1]) == "[1]"


def test_missing_cdnow_files_are_named_with_their_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CLC_CDNOW_DIR", str(tmp_path))
    (tmp_path / "CDNOW_master.txt").write_text("x")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failure:
        cdnow_folder()
    message = str(failure.value)
    assert f"missing in {tmp_path}" in message and "CLC_CDNOW_DIR" in message
    assert "CDNOW_sample.txt, cdnow_customers_summary_with_transactions.csv, donations.csv missing" in message
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="CDNOW reference data not found"):
        cdnow_folder()
    for name in CDNOW_FILES:
        (tmp_path / name).write_text("x")
    assert cdnow_folder() == tmp_path
