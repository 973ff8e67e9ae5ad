"""clc: customer lifecycle analytics.

The public API is what this module exports; notebooks use only these names (``import clc_lib as clc``).
"""

from __future__ import annotations

import importlib

from clc_lib.config import RunConfig, load_config
from clc_lib.errors import ClcError, ConfigError, DataError, ModelFitError
from clc_lib.paths import project_root
from clc_lib.plots import set_theme

__version__ = "0.1.0"

_API_MODULES = (
    "io", "quality", "demo", "summary", "stages", "rfm", "scoring", "cohorts", "survival",
    "acquisition", "monetisation", "recovery", "clv", "display", "report",
)

__all__ = ["ClcError", "ConfigError", "DataError", "ModelFitError", "RunConfig", "load_config",
           "project_root", "set_theme", "__version__"]

for _name in _API_MODULES:
    try:
        _module = importlib.import_module(f"clc_lib.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"clc_lib.{_name}":
            raise
        continue
    for _public in getattr(_module, "__all__", ()):
        globals()[_public] = getattr(_module, _public)
        __all__.append(_public)
