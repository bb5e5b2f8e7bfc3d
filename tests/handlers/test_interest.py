"""Statutory interest, splits and loan plans: every figure worked out by hand in the docstrings."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from handlers.projectconfig import rules_of
from handlers.settlement import (
    LEGAL_RATES,
    MissingRate,
    add_months,
    interest,
    interest_parts,
    loan_plan,
    split,
)


def test_one_year_on_actual_365() -> None:
    """10,000.00 from 1 to 31 Mar 2023: 30 days at 5%: 10,000 x 0.05 x 30 / 365 = 41.0958... = 41.10."""
    assert interest(Decimal("10000.00"), date(2023, 3, 1), date(2023, 3, 31), LEGAL_RATES) == Decimal("41.10")


def test_across_three_years() -> None:
    """40,000.00 from 30 Jun 2023 to 15 Mar 2025.

    2023: 1 Jul - 31 Dec, 184 days at 5%: 40,000 x 0.05 x 184 / 365 = 1,008.2191...
    2024: 366 days at 2.5% (a leap year, still over 365): 40,000 x 0.025 x 366 / 365 = 1,002.7397...
    2025: 1 Jan - 15 Mar, 74 days at 2%: 40,000 x 0.02 x 74 / 365 = 162.1917...
    total 2,173.1506... = 2,173.15 (rounded once, at the end).
    """
    periods = interest_parts(Decimal("40000.00"), date(2023, 6, 30), date(2025, 3, 15), LEGAL_RATES)
    assert [(p["year"], p["days"]) for p in periods] == [("2023", "184"), ("2024", "366"), ("2025", "74")]
    assert interest(Decimal("40000.00"), date(2023, 6, 30), date(2025, 3, 15), LEGAL_RATES) == Decimal(
        "2173.15"
    )


def test_new_years_day_counts_in_the_new_year() -> None:
    """1,000.00 from 31 Dec 2022 to 1 Jan 2023: a day at 5% (2023): 1,000 x 0.05 / 365 = 0.1369... = 0.14."""
    periods = interest_parts(Decimal("1000.00"), date(2022, 12, 31), date(2023, 1, 1), LEGAL_RATES)
    assert [(p["year"], p["days"]) for p in periods] == [("2022", "0"), ("2023", "1")]
    assert interest(Decimal("1000.00"), date(2022, 12, 31), date(2023, 1, 1), LEGAL_RATES) == Decimal("0.14")


def test_half_up_at_the_cent() -> None:
    """73.00 for 1 day at 2.5% (2024): 73 x 0.025 / 365 = 0.005 exactly: half-up gives 0.01, not 0.00."""
    assert interest(Decimal("73.00"), date(2024, 5, 1), date(2024, 5, 2), LEGAL_RATES) == Decimal("0.01")


def test_same_day_is_no_interest() -> None:
    """Repaid on the day it was paid: no day elapsed, no interest."""
    assert interest(Decimal("5000.00"), date(2024, 5, 1), date(2024, 5, 1), LEGAL_RATES) == Decimal("0.00")


def test_a_year_without_a_rate_is_an_error() -> None:
    """A period reaching years the configuration does not know is refused, naming the first of them."""
    with pytest.raises(MissingRate, match="for 2027"):
        interest(Decimal("1.00"), date(2026, 12, 1), date(2030, 1, 2), LEGAL_RATES)


def test_rates_as_configured() -> None:
    """The Ministry's rates 2022-2026 (1.25%, 5%, 2.5%, 2%, 1.6%); a measure's own rate wins for its year."""
    assert [LEGAL_RATES[str(y)] for y in range(2022, 2027)] == ["0.0125", "0.05", "0.025", "0.02", "0.016"]
    rules = rules_of({"project": {"legal_interest": {"2027": "0.015"}, "min_share": "0.8"}})
    assert (rules["legal_interest"]["2027"], rules["legal_interest"]["2023"], rules["min_share"]) == (
        "0.015",
        "0.05",
        "0.8",
    )
    assert rules_of({})["acceptance_days"] == 30


def test_split_adds_up_to_the_cent() -> None:
    """100.00 in three equal parts: 33.34 + 33.33 + 33.33 (the first remainder takes the cent)."""
    assert split(Decimal("100.00"), [Decimal(1)] * 3) == [
        Decimal("33.34"),
        Decimal("33.33"),
        Decimal("33.33"),
    ]
    assert split(Decimal("10.00"), [Decimal(0), Decimal(0)]) == [Decimal("0.00"), Decimal("0.00")]


def test_loan_plan() -> None:
    """1,000.00 in 3 instalments at zero rate: 333.33, 333.33, 333.34 (the last takes the remainder)."""
    rows = loan_plan(Decimal("1000.00"), 3, 2, Decimal(0), date(2024, 8, 31), pre_amortisation_months=6)
    assert [(r["due"], r["principal"], r["interest"]) for r in rows] == [
        ("2025-08-31", "333.33", "0.00"),
        ("2026-02-28", "333.33", "0.00"),
        ("2026-08-31", "333.34", "0.00"),
    ]
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
