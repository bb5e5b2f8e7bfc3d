"""Money is exact; aid splits into a rounded grant and a loan that is the remainder."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.aid import compute, schedule
from handlers.money import cents, euro, parse, parse_rate

RI = {  # Ricerca e Innova's aid section as the shipped file states it
    "main": {"sme": {"grant": "0.30", "loan": "0.70"}},
    "variants": {"green": {"sme": {"grant": "0.40", "loan": "0.60"}}},
    "max_aid": "1000000.00",
    "loan_interest": "0",
    "loan_years": 7,
    "pre_amortisation_max_months": 30,
    "instalments_per_year": 2,
}
FILIERE_2022 = {
    "main": {"sme": {"grant": "0.50"}, "large": {"grant": "0.15"}},
    "max_aid": "400000.00",
    "max_grant": "400000.00",
}
FILIERE_2024 = {
    "main": {"sme": {"grant": "0.10", "loan": "0.60"}},
    "experimental": {"large": {"grant": "0.15"}},
    "loan_interest": "0.015",
    "loan_years": 6,
    "instalments_per_year": 2,
}


def sme(main: str, experimental: str = "0", size: str = "sme") -> dict[str, str]:
    return {"size": size, "main": main, "experimental": experimental}


class TestMoney:
    def test_half_up(self) -> None:
        """Rounding is to the cent, half-up (not banker's)."""
        assert [cents(x) for x in ("0.005", "0.015", "2.675", "-0.005")] == [
            Decimal("0.01"),
            Decimal("0.02"),
            Decimal("2.68"),
            Decimal("-0.01"),
        ]

    @pytest.mark.parametrize(
        "bad",
        [
            0.1,
            True,
            "1.234",
            "-1",
            "abc",
            "NaN",
            "Infinity",
            "1e999999",
            "9" * 29,
            10**29,
            Decimal("1e999999"),
            "1_000",
            "\u0663\u0660\u0660",  # Arabic-Indic 300
            "\uff13\uff10\uff10",  # full-width 300
            "+5",
            "1e3",
        ],
    )
    def test_refused_amounts(self, bad: object) -> None:
        """Floats, bools, sub-cent, negatives, exponents, 16+ digits, non-ASCII digits are refused."""
        with pytest.raises(ValueError, match=r"amount|decimals|strings|digits"):
            parse(bad)

    def test_accepted_amounts(self) -> None:
        """Strings, ints and Decimals with at most two decimals are amounts."""
        assert [parse("10"), parse(5), parse(Decimal("1.5")), parse(" 3.20 ")] == [
            Decimal("10.00"),
            Decimal("5.00"),
            Decimal("1.50"),
            Decimal("3.20"),
        ]

    @pytest.mark.parametrize("bad", [0.3, "1.01", "-0.1", "x", "1e-999999", "0.\u0663", "0." + "1" * 11])
    def test_refused_rates(self, bad: object) -> None:
        """Rates are strings between 0 and 1."""
        with pytest.raises(ValueError, match="rate"):
            parse_rate(bad)

    def test_euro_for_people(self) -> None:
        """Amounts read the Italian way."""
        assert euro("32414148.95") == "32.414.148,95 €"


class TestAid:
    def test_ricerca_e_innova_split(self) -> None:
        """30% grant rounded half-up, the loan is the remainder."""
        award = compute(RI, [sme("123456.78")])
        assert (award["base"], award["grant"], award["loan"]) == ("123456.78", "37037.03", "86419.75")

    def test_variant_replaces_rates(self) -> None:
        """A green project gets 40% grant."""
        assert compute(RI, [sme("100000.00")], variant="green")["grant"] == "40000.00"

    def test_total_cap_split_proportionally(self) -> None:
        """Above 1,000,000 the aid is capped and split 30/70."""
        award = compute(RI, [sme("1000000.01")])
        assert (award["base"], award["grant"], award["loan"], award["capped"]) == (
            "1000000.00",
            "300000.00",
            "700000.00",
            ["max_aid"],
        )

    def test_at_the_cap(self) -> None:
        """Exactly at the cap nothing is capped."""
        assert compute(RI, [sme("1000000.00")])["capped"] == []

    def test_grant_cap(self) -> None:
        """Bando Filiere 2022: 50% grant, capped at 400,000 per project."""
        below = compute(FILIERE_2022, [sme("799999.98")])
        above = compute(FILIERE_2022, [sme("800000.02")])
        assert (below["grant"], below["capped"]) == ("399999.99", [])
        assert (above["grant"], above["loan"], above["base"]) == ("400000.00", "0.00", "400000.00")

    def test_rates_by_size_and_kind(self) -> None:
        """SMEs' main costs earn grant and loan; the large company's experimental costs a grant only."""
        award = compute(FILIERE_2024, [sme("500000.00"), sme("0", "300000.00", size="large")])
        assert (award["grant"], award["loan"], award["base"]) == ("95000.00", "300000.00", "395000.00")

    @given(
        st.lists(st.integers(min_value=0, max_value=200_000_000), min_size=1, max_size=12),
        st.sampled_from([RI, FILIERE_2022, FILIERE_2024]),
    )
    def test_grant_plus_loan_is_the_base(self, costs: list[int], rules: dict[str, object]) -> None:
        """For any costs, grant + loan = aid base exactly, all in cents, none negative."""
        partners = [sme(str(Decimal(c) / 100)) for c in costs]
        award = compute(rules, partners)
        base, grant, loan = (Decimal(award[k]) for k in ("base", "grant", "loan"))
        assert grant + loan == base
        assert min(base, grant, loan) >= 0
        assert all(x == x.quantize(Decimal("0.01")) for x in (base, grant, loan))


class TestInstalments:
    def test_principal_adds_up(self) -> None:
        """Equal principal instalments add up to the loan; the last takes the remainder."""
        rows = schedule(RI, Decimal("86419.75"), 12)
        principal = [Decimal(r["principal"]) for r in rows]
        assert sum(principal) == Decimal("86419.75")
        assert len(rows) == 2 + 14  # two pre-amortisation semesters, then 7 years of semesters
        assert (rows[0]["month"], rows[2]["month"], rows[-1]["month"]) == (6, 18, 96)
        assert principal[-1] == Decimal("6172.83")

    def test_interest_on_outstanding(self) -> None:
        """At 1.5% a year, each semester's interest is on what is still owed."""
        rows = schedule(FILIERE_2024, Decimal("120000.00"), 0)
        assert (rows[0]["interest"], rows[1]["interest"], rows[-1]["interest"]) == (
            "900.00",
            "825.00",
            "75.00",
        )

    def test_no_loan_no_schedule(self) -> None:
        """A grant-only award has no instalments."""
        assert schedule(FILIERE_2022, Decimal("0"), 0) == []

    @given(st.integers(min_value=1, max_value=10**11), st.integers(min_value=0, max_value=30))
    def test_any_loan_is_repaid_exactly(self, loan_cents: int, pre: int) -> None:
        """For any loan and pre-amortisation, the principal repaid equals the loan to the cent."""
        loan = Decimal(loan_cents) / 100
        assert sum(Decimal(r["principal"]) for r in schedule(RI, loan, pre)) == loan


def shipped(name: str) -> dict[str, object]:
    from workflow.config import example_measure_path, read_measure_file

    return read_measure_file(example_measure_path(name))


class TestShippedCaps:
    """The caps as the shipped measure files state them, one cent below, at and above."""

    @pytest.mark.parametrize(
        ("name", "partner", "expected"),
        [
            ("ricerca-e-innova-2023", sme("999999.99"), ("999999.99", [])),
            ("ricerca-e-innova-2023", sme("1000000.00"), ("1000000.00", [])),
            ("ricerca-e-innova-2023", sme("1000000.01"), ("1000000.00", ["max_aid"])),
            ("bando-filiere-2022", sme("799999.98"), ("399999.99", [])),
            ("bando-filiere-2022", sme("800000.00"), ("400000.00", [])),
            ("bando-filiere-2022", sme("800000.02"), ("400000.00", ["max_aid"])),
        ],
    )
    def test_cap(self, name: str, partner: dict[str, str], expected: tuple[str, list[str]]) -> None:
        """Below the cap the aid is the rate's; at it, untouched; a cent above, capped."""
        award = compute(shipped(name)["aid"], [partner])  # type: ignore[arg-type]
        assert (award["base"], award["capped"]) == expected
        assert Decimal(award["grant"]) + Decimal(award["loan"]) == Decimal(award["base"])

    def test_rafforzamento_2025_large_gets_grant_only(self) -> None:
        """A large company's experimental costs earn a grant and no loan."""
        award = compute(shipped("rafforzamento-filiere-2025")["aid"], [sme("0", "400000.00", size="large")])  # type: ignore[arg-type]
        assert (award["grant"], award["loan"]) == ("60000.00", "0.00")
