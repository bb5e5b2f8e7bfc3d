"""Time conversions: UTC for storage and JSON, Europe/Rome (or the call's zone) for people.

Configured local times that do not exist (spring-forward gap) or are ambiguous
(autumn fold) are rejected rather than guessed: a deadline must mean one
instant.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

ROME = ZoneInfo("Europe/Rome")


def local_to_utc(text: str, tz: ZoneInfo = ROME) -> datetime:
    """Turn a naive local ``YYYY-MM-DDTHH:MM[:SS]`` into an aware UTC instant.

    Raises:
        ValueError: the text is not such a time, carries an offset, or names a
            local time that does not exist or happens twice in ``tz``.
    """
    naive = datetime.fromisoformat(text)
    if naive.tzinfo is not None:
        raise ValueError(f"{text!r} must be a local time without an offset")
    first = naive.replace(tzinfo=tz, fold=0)
    try:
        instant = first.astimezone(UTC)
        round_trip = instant.astimezone(tz).replace(tzinfo=None)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by the zone's offset
        raise ValueError(f"{text} is out of range in {tz.key}") from None
    # A time in the spring gap comes back shifted by the hour the clocks skip; test it
    # first: its two folds also differ in offset, which would otherwise read as ambiguous.
    if round_trip != naive:
        raise ValueError(f"{text} does not exist in {tz.key}: the clocks go forward that night and skip it")
    if first.utcoffset() != naive.replace(tzinfo=tz, fold=1).utcoffset():
        raise ValueError(
            f"{text} is ambiguous in {tz.key}: the clocks go back that night and it happens twice"
        )
    return instant


def to_json(moment: datetime) -> str:
    """The JSON form of an instant: UTC, ISO 8601, with ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are not allowed")
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def from_json(text: str) -> datetime:
    """Parse the JSON form written by :func:`to_json`."""
    return datetime.fromisoformat(text)


def for_people(moment: datetime, tz: ZoneInfo = ROME) -> str:
    """``2022-12-31 16:00:00 Europe/Rome``: seconds always, microseconds if any."""
    local = moment.astimezone(tz)
    text = local.strftime("%Y-%m-%d %H:%M:%S")
    if local.microsecond:
        text += f".{local.microsecond:06d}"
    return f"{text} {tz.key}"


def clock_time(moment: datetime, tz: ZoneInfo = ROME) -> str:
    """Only the local time of day, as in ``passed at 16:00:01``."""
    return for_people(moment, tz).split(" ")[1]
