"""Reporting periods, model time units and the cut-off date: the calendar conventions of ``clc``.

Reporting periods
    Per-period views (cohorts, churn, growth accounting, revenue over time, ...) group dates by a
    :class:`Period`: ``"M"`` calendar months or ``"W"`` weeks starting on Monday (ISO weeks). A
    period is named by its start date (the first of the month, or the Monday).
Model time units
    The probabilistic models measure ``t_x``, ``T`` and horizons in a :class:`TimeUnit`: ``"D"``
    (1 day), ``"W"`` (7 days) or ``"M"`` (30.4375 days, the mean Gregorian month).
As of
    ``as_of`` is the cut-off date; the whole ``as_of`` day is in the data. :func:`resolve_as_of`
    turns what a caller passes into midnight of that day.

The run config's ``period`` and the ``clc`` package import this module before pandas is loaded, so
pandas and Ibis are imported inside the functions that need them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from clc_lib.errors import ConfigError, DataError

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

__all__ = ["DAYS_PER_YEAR", "DAYS_PER_MONTH", "Period", "PERIODS", "TimeUnit", "TIME_UNITS", "TIME_UNIT_DAYS",
           "resolve_as_of"]

#: Mean length of a Gregorian year in days.
DAYS_PER_YEAR = 365.25
#: Mean length of a Gregorian month in days (``DAYS_PER_YEAR / 12``).
DAYS_PER_MONTH = DAYS_PER_YEAR / 12


@dataclass(frozen=True)
class Period:
    """A reporting period: calendar months (``"M"``) or weeks starting on Monday (``"W"``).

    Use :meth:`parse` to get one from a config value; the two instances are in :data:`PERIODS`.

    Attributes
    ----------
    code
        ``"M"`` or ``"W"``, as written in the run config.
    singular, plural
        The period in words (``"month"``, ``"months"``).
    description
        What the period is, for messages (``"calendar months"``).
    start_frequency, end_frequency
        pandas frequency aliases of the periods' first days (``"MS"``, ``"W-MON"``) and last days
        (``"ME"``, ``"W-SUN"``).
    truncate_unit
        Unit of Ibis ``timestamp.truncate`` that maps a timestamp to its period's start.
    longest_days
        Days in the longest period (31 for months, 7 for weeks).
    step_unit, step_size
        One period as a pandas ``DateOffset`` / Ibis ``interval`` keyword and count (1 ``months``,
        7 ``days``).
    """

    code: str
    singular: str
    plural: str
    description: str
    start_frequency: str
    end_frequency: str
    truncate_unit: str
    longest_days: int
    step_unit: str
    step_size: int

    @classmethod
    def parse(cls, value: Any, *, what: str = "period") -> Period:
        """The :class:`Period` named by ``value``: ``"M"`` or ``"W"`` (any case) or a Period.

        Raises
        ------
        ConfigError
            For any other value; the message names ``what`` (e.g. ``"'period' in the run config"``).
        """
        if isinstance(value, Period):
            return value
        found = PERIODS.get(str(value).strip().upper()) if isinstance(value, str) else None
        if found is None:
            raise ConfigError(f"{what} is {value!r}; use 'M' (calendar months) or 'W' (weeks starting on Monday).")
        return found

    def __str__(self) -> str:
        return self.code

    def offset(self, n: int = 1) -> pd.DateOffset:
        """pandas offset of ``n`` periods (added to a period start it gives a later period start)."""
        import pandas as pd

        return pd.DateOffset(**{self.step_unit: n * self.step_size})

    def ibis_interval(self, n: int = 1):
        """Ibis interval of ``n`` periods, for date arithmetic in the engine."""
        import ibis

        return ibis.interval(**{self.step_unit: n * self.step_size})

    def start_of(self, timestamp) -> pd.Timestamp:
        """Midnight of the first day of the period that holds ``timestamp``."""
        import pandas as pd

        day = pd.Timestamp(timestamp).normalize()
        if self.code == "M":
            return day.replace(day=1)
        return day - pd.Timedelta(days=day.weekday())

    def end_of_previous(self, timestamp) -> pd.Timestamp:
        """Midnight of the last day of the period before the one that holds ``timestamp``.

        The month end before a date in March is 29 or 28 February; for weeks it is the Sunday
        before the date's Monday (a Sunday gives the Sunday a week earlier).
        """
        import pandas as pd

        return self.start_of(timestamp) - pd.Timedelta(days=1)

    def starts(self, first, last) -> pd.DatetimeIndex:
        """Start dates of every period from the one holding ``first`` to the one holding ``last``."""
        import pandas as pd

        return pd.date_range(self.start_of(first), self.start_of(last), freq=self.start_frequency)

    def periods_between(self, start: pd.Series, end: pd.Series) -> pd.Series:
        """Whole periods from ``start`` to ``end`` (datetime Series of period start dates)."""
        if self.code == "M":
            return (end.dt.year - start.dt.year) * 12 + (end.dt.month - start.dt.month)
        return (end - start).dt.days // 7


#: The reporting periods by code.
PERIODS: Mapping[str, Period] = MappingProxyType({
    "M": Period(code="M", singular="month", plural="months", description="calendar months",
                start_frequency="MS", end_frequency="ME", truncate_unit="M", longest_days=31,
                step_unit="months", step_size=1),
    "W": Period(code="W", singular="week", plural="weeks", description="weeks starting on Monday",
                start_frequency="W-MON", end_frequency="W-SUN", truncate_unit="W", longest_days=7,
                step_unit="days", step_size=7),
})


@dataclass(frozen=True)
class TimeUnit:
    """A time unit of the customer-base models: ``"D"`` (day), ``"W"`` (7 days) or ``"M"`` (30.4375 days).

    Attributes
    ----------
    code
        ``"D"``, ``"W"`` or ``"M"``, as written in the run config's ``clv.time_unit``.
    days
        Length in days (``M`` is :data:`DAYS_PER_MONTH`, the mean Gregorian month).
    singular, plural
        The unit in words (``"week"``, ``"weeks"``).
    """

    code: str
    days: float
    singular: str
    plural: str

    @classmethod
    def parse(cls, value: Any, *, what: str = "time_unit") -> TimeUnit:
        """The :class:`TimeUnit` named by ``value``: ``"D"``, ``"W"`` or ``"M"`` (any case) or a TimeUnit.

        Raises
        ------
        ConfigError
            For any other value; the message names ``what``.
        """
        if isinstance(value, TimeUnit):
            return value
        found = TIME_UNITS.get(str(value).strip().upper()) if isinstance(value, str) else None
        if found is None:
            raise ConfigError(f"Unknown time unit {value!r} for {what}; use D (1 day), W (7 days) "
                              f"or M ({DAYS_PER_MONTH:g} days).")
        return found

    def __str__(self) -> str:
        return self.code

    def words(self, value: float) -> str:
        """``value`` of this unit in words: ``52`` weeks -> ``"52 weeks"``, ``1`` month -> ``"1 month"``."""
        return f"{value:g} {self.singular if value == 1 else self.plural}"


#: The model time units by code.
TIME_UNITS: Mapping[str, TimeUnit] = MappingProxyType({
    "D": TimeUnit(code="D", days=1.0, singular="day", plural="days"),
    "W": TimeUnit(code="W", days=7.0, singular="week", plural="weeks"),
    "M": TimeUnit(code="M", days=DAYS_PER_MONTH, singular="month", plural="months"),
})

#: Length of each model time unit in days, by code.
TIME_UNIT_DAYS: Mapping[str, float] = MappingProxyType({code: unit.days for code, unit in TIME_UNITS.items()})


def resolve_as_of(as_of: str | dt.date | pd.Timestamp | None, transactions: ir.Table | None = None, *,
                  what: str = "as_of") -> pd.Timestamp:
    """Midnight of the cut-off day as a timezone-naive :class:`pandas.Timestamp`.

    Parameters
    ----------
    as_of
        A date (``"YYYY-MM-DD"``, :class:`datetime.date`, a timestamp; the time of day is dropped,
        an aware timestamp is first converted to UTC), or ``None``.
    transactions
        The contract's transactions table (Ibis, column ``timestamp``). With ``as_of=None`` the
        cut-off is the day of its last row.
    what
        Name of the value in error messages (e.g. ``"calibration_end"``).

    Raises
    ------
    ConfigError
        When ``as_of`` is not a date, or is ``None`` without ``transactions``.
    DataError
        When ``as_of`` is ``None`` and ``transactions`` has no rows.
    """
    import pandas as pd

    if as_of is None:
        if transactions is None:
            raise ConfigError(f"{what} is required: pass the cut-off date of the data (run.as_of), as YYYY-MM-DD.")
        last = transactions.timestamp.max().execute()
        if last is None or pd.isna(last):
            raise DataError("The transactions table is empty, so there is no date to analyse up to.",
                            source="transactions", n_rows=0,
                            hint="Check the run config's transactions source and the as_of date.")
        return pd.Timestamp(last).normalize()
    try:
        stamp = pd.Timestamp(as_of)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} {as_of!r} is not a date; write it as YYYY-MM-DD.") from None
    if pd.isna(stamp):
        raise ConfigError(f"{what} is missing; give a date as YYYY-MM-DD.")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.normalize()
