"""Shared fixtures: the CDNOW reference data (skipped cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CDNOW_DIR = Path(os.environ.get("CLC_CDNOW_DIR", PROJECT_ROOT.parent / "shared" / "data" / "cdnow"))


@pytest.fixture(scope="session")
def cdnow_dir() -> Path:
    """Folder of the CDNOW and donations files (Fader & Hardie); see ../shared/data/cdnow/README.md."""
    if not (CDNOW_DIR / "CDNOW_master.txt").is_file():
        pytest.skip(f"CDNOW reference data not found at {CDNOW_DIR} (set CLC_CDNOW_DIR to its folder)")
    return CDNOW_DIR


@pytest.fixture(autouse=True)
def private_cache_home(tmp_path_factory, monkeypatch) -> Path:
    """Give each test its own ``XDG_CACHE_HOME`` so report runs never share ``~/.cache/clc/runs``."""
    cache_home = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    return cache_home
