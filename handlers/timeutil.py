"""Time conversions: UTC for storage and JSON, Europe/Rome (or the call's zone) for people.

Configured local times that do not exist (spring-forward gap) or are ambiguous
(autumn fold) are rejected rather than guessed: a deadline must mean one
instant. Every date a caller gives lies between :data:`YEAR_MIN` and
:data:`YEAR_MAX`: year 1 or 9999 is a typo, and adding a term of days to it
overflows Python's datetime.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

ROME = ZoneInfo("Europe/Rome")
#: The years a date given by a caller may fall in (both included).
YEAR_MIN, YEAR_MAX = 1900, 2200


def year_problem(year: int) -> str | None:
    """Why a date in ``year`` is refused, or None if it lies in the window."""
    if YEAR_MIN <= year <= YEAR_MAX:
        return None
    return f"the year {year} lies outside {YEAR_MIN}..{YEAR_MAX}"


def check_moment(moment: datetime) -> None:
    """Refuse an instant outside the years a caller may give.

    Raises:
        ValueError: saying why.
    """
    problem = year_problem(moment.year)
    if problem:
        raise ValueError(problem)


def local_to_utc(text: str, tz: ZoneInfo = ROME) -> datetime:
    """Turn a naive local ``YYYY-MM-DDTHH:MM[:SS]`` into an aware UTC instant.

    Raises:
        ValueError: the text is not such a time, carries an offset, lies outside the
            years :data:`YEAR_MIN` to :data:`YEAR_MAX`, or names a local time that does not
            exist or happens twice in ``tz``.
    """
    naive = datetime.fromisoformat(text)
    check_moment(naive)
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
