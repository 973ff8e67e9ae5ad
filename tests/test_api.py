"""The curated public API: every module's __all__ is exported, lazily, without clashes."""

from __future__ import annotations

import importlib
import subprocess
import sys

import clc_lib


def test_exports_match_each_modules_all():
    for module, names in clc_lib.EXPORTS.items():
        assert tuple(importlib.import_module(f"clc_lib.{module}").__all__) == names, module
    every_name = [name for names in clc_lib.EXPORTS.values() for name in names]
    assert len(every_name) == len(set(every_name)), "a public name is exported by two modules"


def test_public_names_resolve_to_the_module_objects():
    from clc_lib.stages import classify_stages
    from clc_lib.summary import customer_summary

    assert clc_lib.customer_summary is customer_summary
    assert clc_lib.classify_stages is classify_stages
    assert "load_run" in dir(clc_lib)


def test_importing_the_package_does_not_import_the_analysis_modules():
    code = "import sys, clc_lib; print(any(m in sys.modules for m in ('clc_lib.stages', 'clc_lib.clv', 'ibis')))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False"
