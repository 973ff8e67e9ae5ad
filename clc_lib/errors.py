"""Errors that explain bad input to a person: which file, which column, how many rows, examples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ClcError(Exception):
    """Base class of the errors ``clc`` reports on one screen (exit code 2)."""


class ConfigError(ClcError):
    """The run config is malformed: unknown key, missing file, bad value."""


class ModelFitError(ClcError):
    """A model could not be fitted; the message says why and what to try."""


class DataError(ClcError):
    """Input data violate the data contract.

    Parameters
    ----------
    message
        What is wrong, in one sentence.
    source
        The file, glob, query or frame the rows come from.
    column
        The offending column (source name where it differs from the contract name).
    n_rows
        How many rows fail.
    examples
        Up to a few ``(row_number, value)`` pairs; row numbers are 1-based data rows
        (the header is not counted).
    hint
        What to do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: str | None = None,
        n_rows: int | None = None,
        examples: Sequence[tuple[Any, Any]] = (),
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.column = column
        self.n_rows = n_rows
        self.examples = list(examples)
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        lines = [self.message]
        if self.source is not None:
            lines.append(f"  file:    {self.source}")
        if self.column is not None:
            lines.append(f"  column:  {self.column}")
        if self.n_rows is not None:
            lines.append(f"  rows:    {self.n_rows:,}")
        if self.examples:
            shown = ", ".join(f"row {row}: {value!r}" for row, value in self.examples[:5])
            lines.append(f"  e.g.     {shown}")
        if self.hint:
            lines.append(f"  hint:    {self.hint}")
        return "\n".join(lines)
