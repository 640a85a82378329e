"""Durations as tasks take them: a ``timedelta``, seconds, or a string such as ``"30s"`` or ``"5m"``."""

from __future__ import annotations

import re
from datetime import timedelta

from chute.errors import WorkerConfigError

Duration = timedelta | int | float | str
"""A ``timedelta``; a number of seconds; or ``"250ms"``, ``"30s"``, ``"5m"``, ``"1h"``."""

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_PATTERN = re.compile(r"^(\d+)(ms|s|m|h)$")
_MAX_MS = 7 * 24 * 3600 * 1000  # the gateway's bound on executionTimeoutMs


def duration_ms(value: Duration, what: str) -> int:
    """Convert ``value`` to whole milliseconds, between 1 ms and 7 days.

    Raises :class:`~chute.errors.WorkerConfigError` naming ``what`` when the value is not a
    duration or is out of range.
    """
    if isinstance(value, bool):
        raise WorkerConfigError(f"{what} must be a duration, got {value!r}")
    if isinstance(value, timedelta):
        ms = round(value.total_seconds() * 1000)
    elif isinstance(value, int | float):
        ms = round(value * 1000)
    elif isinstance(value, str):
        match = _PATTERN.match(value.strip())
        if match is None:
            raise WorkerConfigError(f'{what} must look like "250ms", "30s", "5m" or "1h", got {value!r}')
        ms = int(match.group(1)) * _UNITS_MS[match.group(2)]
    else:
        raise WorkerConfigError(f"{what} must be a timedelta, seconds or a string such as '5m', got {value!r}")
    if ms <= 0 or ms > _MAX_MS:
        raise WorkerConfigError(f"{what} must be between 1 ms and 7 days, got {value!r}")
    return ms
