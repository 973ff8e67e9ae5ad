"""Project folders, resolved from anywhere (a notebook folder, a test, a cron job).

The project root is, in order of precedence:

1. the ``CLC_PROJECT_ROOT`` environment variable;
2. the checkout that contains this package (editable installs, the usual case);
3. the nearest parent of the working directory holding ``pyproject.toml`` and ``notebooks/``.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_ENV_VAR = "CLC_PROJECT_ROOT"


def _looks_like_root(path: Path) -> bool:
    return (path / "pyproject.toml").is_file() and (path / "notebooks").is_dir()


def project_root() -> Path:
    """Return the project root folder (see the module docstring for the rules)."""
    override = os.environ.get(ROOT_ENV_VAR)
    if override:
        return Path(override).expanduser().resolve()
    package_parent = Path(__file__).resolve().parents[1]
    if _looks_like_root(package_parent):
        return package_parent
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if _looks_like_root(candidate):
            return candidate
    return here


def data_dir() -> Path:
    return project_root() / "data"


def raw_dir() -> Path:
    """Immutable inputs: never written by analyses (only ``clc demo-data`` writes here)."""
    return data_dir() / "raw"


def processed_dir() -> Path:
    return data_dir() / "processed"


def reports_dir() -> Path:
    return project_root() / "reports"


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def demo_config_path() -> Path:
    """Run config of the embedded demo business (written by ``clc demo-data``)."""
    return raw_dir() / "demo" / "run.yaml"


def process_running(pid: int) -> bool:
    """Whether a process with this id exists on this machine (another user's counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
