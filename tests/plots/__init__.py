"""Tests of the charts: one file per plot module of :mod:`clc_lib.plots`."""
