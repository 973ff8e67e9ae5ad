"""clc: customer lifecycle analytics."""

__version__ = "0.1.0"
