"""Money: ``Decimal`` euros, rounded to the cent half-up, never float.

Amounts travel in JSON and TOML as strings (``"4000000.00"``): a float in a
payload or a measure file is refused, because 0.1 + 0.2 is not 0.3 and a
grant must be exact.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def cents(value: Decimal | int | str) -> Decimal:
    """Round to the cent, half-up (0.005 → 0.01)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def parse(value: Any) -> Decimal:
    """A non-negative amount with at most two decimals, from a string, an int or a Decimal.

    Raises:
        ValueError: a float, a bool, more than two decimals, a negative or non-finite amount.
    """
    if isinstance(value, bool | float):
        raise ValueError(f'amounts are strings like "1234.50", not {type(value).__name__} ({value!r})')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not an amount") from exc
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{value!r} must be a non-negative amount")
    if amount != amount.quantize(CENT):
        raise ValueError(f"{value!r} has more than two decimals")
    return amount.quantize(CENT)


def parse_rate(value: Any) -> Decimal:
    """A rate between 0 and 1 (``"0.30"``), given as a string."""
    if isinstance(value, bool | float):
        raise ValueError(f'rates are strings like "0.30", not {type(value).__name__} ({value!r})')
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a rate") from exc
    if not rate.is_finite() or not Decimal(0) <= rate <= Decimal(1):
        raise ValueError(f"{value!r} must be a rate between 0 and 1")
    return rate


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
