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
