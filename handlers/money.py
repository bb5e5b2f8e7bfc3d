"""Money: ``Decimal`` euros, rounded to the cent half-up, never float.

Amounts travel in JSON and TOML as strings (``"4000000.00"``): a float in a
payload or a measure file is refused, because 0.1 + 0.2 is not 0.3 and a
grant must be exact. An amount is written plainly in ASCII digits: at most
:data:`MAX_DIGITS` before the point, no exponent (``1e999999`` would overflow
the 28 digits ``Decimal`` computes with), no underscore and no other script's
digits (``1_000`` and ``٣`` are numbers to Python, not to a payment system).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
#: Digits an amount may have before the point: under a thousand trillion euro, so that sums and
#: products with rates stay well inside Decimal's 28 significant digits.
MAX_DIGITS = 15
#: Decimals a rate may have (``"0.0125"``).
RATE_DECIMALS = 10
_PLAIN = re.compile(r"([0-9]+)(?:\.([0-9]+))?", re.ASCII)
_LONGEST = 40


def cents(value: Decimal | int | str) -> Decimal:
    """Round to the cent, half-up (0.005 → 0.01)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _plain(value: Any, what: str, example: str) -> tuple[str, str, str]:
    """A number written plainly: its text, integer digits and fraction digits; ValueError if not."""
    if isinstance(value, bool | float):
        raise ValueError(f'{what}s are strings like "{example}", not {type(value).__name__} ({value!r})')
    if isinstance(value, Decimal) and value.is_finite() and -30 < value.adjusted() < MAX_DIGITS:
        value = format(value, "f")  # a Decimal from Python code may carry an exponent: 1E+3
    written = str(value).strip() if isinstance(value, str | int | Decimal) else repr(value)
    match = _PLAIN.fullmatch(written) if len(written) <= _LONGEST else None
    if match is None:
        shown = written if len(written) <= _LONGEST else written[:_LONGEST] + "…"
        raise ValueError(
            f"{shown!r} is not a plain {what}: write it like {example} "
            "(ASCII digits and a point; no sign, exponent, separator or other script's digits)"
        )
    return written, match.group(1), match.group(2) or ""


def parse(value: Any) -> Decimal:
    """A non-negative amount with at most two decimals, from a string, an int or a Decimal.

    Raises:
        ValueError: a float, a bool, a sign, an exponent, a separator, non-ASCII digits, more
            than :data:`MAX_DIGITS` digits before the point or more than two decimals.
    """
    written, whole, fraction = _plain(value, "amount", "1234.50")
    if len(whole.lstrip("0")) > MAX_DIGITS:
        raise ValueError(f"{written} has more than {MAX_DIGITS} digits before the point")
    if len(fraction.rstrip("0")) > 2:
        raise ValueError(f"{written} has more than two decimals")
    return Decimal(written).quantize(CENT)


def parse_rate(value: Any) -> Decimal:
    """A rate between 0 and 1 (``"0.30"``), given as a string.

    Raises:
        ValueError: as :func:`parse`, or outside 0..1, or more than :data:`RATE_DECIMALS` decimals.
    """
    written, whole, fraction = _plain(value, "rate", "0.30")
    if len(whole.lstrip("0")) > 1 or len(fraction) > RATE_DECIMALS or Decimal(written) > 1:
        raise ValueError(f"{written} must be a rate between 0 and 1 with at most {RATE_DECIMALS} decimals")
    return Decimal(written)


def text(amount: Decimal) -> str:
    """The JSON form of an amount: two decimals, as a string."""
    return str(cents(amount))


#: A pydantic field type for amounts: validated by :func:`parse`, dumped as a string.
Money = Annotated[Decimal, BeforeValidator(parse), PlainSerializer(text, return_type=str)]
#: A pydantic field type for rates: validated by :func:`parse_rate`, dumped as a string.
Rate = Annotated[Decimal, BeforeValidator(parse_rate), PlainSerializer(str, return_type=str)]


def euro(amount: Decimal | str) -> str:
    """For people: ``1.234.567,89 €``, the Italian way."""
    grouped = f"{cents(Decimal(amount)):,.2f}"
    return grouped.replace(",", "_").replace(".", ",").replace("_", ".") + " €"
