"""The arithmetic of a funded project: splits per partner, recomputation, statutory interest, loan plans.

Pure functions on ``Decimal`` (never float), rounded to the cent half-up only
where a figure is final, so that per-partner figures always add up to the
project's figure to the cent.

Statutory interest (*interessi legali*, art. 1284 of the Civil Code): the
yearly rate the Ministry of Economy sets for each calendar year, charged day by
day from the payment date (excluded) to the repayment date (included), each
day at the rate of its own year, on the **actual/365** basis: every day is
1/365 of a year, in leap years too (the usual practice of Italian public
administrations for *interessi legali*). The exact sum of the yearly parts is
rounded once, at the end, to the cent half-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from handlers.money import CENT, ZERO, cents, text

#: Days of the year in the actual/365 day count.
DAYS_PER_YEAR = Decimal(365)

#: The statutory rates (saggio degli interessi legali) by year, as the Ministry set them
#: (decreto MEF of the December before): 2020 DM 12/12/2019, 2021 DM 11/12/2020,
#: 2022 DM 13/12/2021, 2023 DM 13/12/2022, 2024 DM 29/11/2023, 2025 DM 10/12/2024,
#: 2026 DM 10/12/2025 (GU 289 of 13/12/2025). A measure may override or extend them.
LEGAL_RATES: dict[str, str] = {
    "2020": "0.0005",
    "2021": "0.0001",
    "2022": "0.0125",
    "2023": "0.05",
    "2024": "0.025",
    "2025": "0.02",
    "2026": "0.016",
}


class MissingRate(ValueError):
    """No statutory rate is configured for a year the interest period touches."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(f"no statutory interest rate is configured for {year}")


def split(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Share ``total`` (in cents) by ``weights``, to the cent, the parts adding up to ``total`` exactly.

    Largest remainder: each part is floored to the cent, and the cents left go one
    by one to the largest remainders (ties to the earlier part). All-zero weights
    give all-zero parts.
    """
    whole = sum(weights, ZERO)
    if whole == 0:
        return [ZERO for _ in weights]
    exact = [total * w / whole for w in weights]
    shares = [e.quantize(CENT, rounding=ROUND_FLOOR) for e in exact]
    left = int((total - sum(shares, ZERO)) / CENT)
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[:left]:
        shares[i] += CENT
    return shares


def interest_parts(
    principal: Decimal, paid_on: date, repaid_on: date, rates: Mapping[str, Any]
) -> list[dict[str, str]]:
    """The interest of each calendar year between the two dates, unrounded, with its days and rate.

    Raises:
        MissingRate: a year of the period has no rate.
    """
    periods: list[dict[str, str]] = []
    year = paid_on.year
    while paid_on < repaid_on and year <= repaid_on.year:
        before = paid_on if year == paid_on.year else date(year, 1, 1) - timedelta(days=1)
        last = min(date(year, 12, 31), repaid_on)
        days = (last - before).days  # the day after ``before`` up to ``last``, both included
        rate = rates.get(str(year))
        if rate is None:
            raise MissingRate(year)
        amount = principal * Decimal(rate) * days / DAYS_PER_YEAR
        periods.append({"year": str(year), "days": str(days), "rate": str(rate), "interest": str(amount)})
        year += 1
    return periods


def interest(principal: Decimal, paid_on: date, repaid_on: date, rates: Mapping[str, Any]) -> Decimal:
    """Statutory interest on ``principal`` from ``paid_on`` to ``repaid_on``, to the cent (see the module)."""
    periods = interest_parts(principal, paid_on, repaid_on, rates)
    return cents(sum((Decimal(p["interest"]) for p in periods), ZERO))


def pro_rata(awarded: Decimal, admitted: Decimal, approved: Decimal) -> Decimal:
    """The award in proportion to the admitted spending, never above the award, to the cent."""
    if approved <= 0:
        return ZERO
    return min(awarded, cents(awarded * admitted / approved))


def loan_plan(
    loan: Decimal, count: int, per_year: int, rate: Decimal, first: date, *, pre_amortisation_months: int = 0
) -> list[dict[str, str]]:
    """Equal principal instalments of ``loan``, the last taking the rounding remainder, with due dates.

    The first instalment falls one period after ``first`` plus the pre-amortisation;
    interest (zero at a zero rate) is charged per period on the outstanding principal.
    """
    if loan <= 0 or count <= 0:
        return []
    step = 12 // per_year
    share = cents(loan / count)
    outstanding = loan
    rows = []
    for index in range(count):
        principal = outstanding if index == count - 1 else share
        rows.append(
            {
                "n": str(index + 1),
                "due": add_months(first, pre_amortisation_months + step * (index + 1)).isoformat(),
                "principal": text(principal),
                "interest": text(outstanding * rate / per_year),
            }
        )
        outstanding -= principal
    return rows


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day when it has no such day."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))
