"""Aid: from eligible costs to grant and loan, capped, rounded, repaid.

The rules (all from the measure file):

1. each partner's costs, by kind (``main``: business development or the whole
   project; ``experimental``: experimental development), earn the grant and
   loan rates of the partner's size (a declared variant, e.g. ``green``,
   replaces the ``main`` rates);
2. the aid base is their sum, capped by ``max_aid`` and rounded to the cent;
3. the grant is the base's grant share, rounded half-up, and cut to
   ``max_grant`` (the excess is lost, not turned into loan); the loan is the
   remainder, so grant + loan = aid base, always;
4. the loan is repaid in equal principal instalments after an interest-only
   pre-amortisation period, interest on the outstanding principal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from handlers.money import ZERO, cents, text


def pair_for(aid: Mapping[str, Any], bucket: str, size: str, variant: str | None) -> Mapping[str, Any] | None:
    """The grant/loan rates for a kind of cost and a size, or ``None`` if not eligible."""
    table = aid["variants"][variant] if variant and bucket == "main" else aid.get(bucket) or {}
    pair = table.get(size)
    return pair if isinstance(pair, Mapping) else None


def compute(
    aid: Mapping[str, Any],
    partners: Sequence[Mapping[str, Any]],
    *,
    variant: str | None = None,
    pre_amortisation_months: int = 0,
) -> dict[str, Any]:
    """The award for ``partners`` (each with ``size``, ``main`` and ``experimental`` costs).

    Returns JSON-ready data: ``base``, ``grant``, ``loan`` (strings), ``capped``
    (which caps bit) and ``instalments``.
    """
    grant_raw = loan_raw = Decimal(0)
    for partner in partners:
        for bucket in ("main", "experimental"):
            amount = Decimal(partner.get(bucket, "0"))
            pair = pair_for(aid, bucket, partner["size"], variant) if amount else None
            if pair is not None:
                grant_raw += amount * Decimal(pair["grant"])
                loan_raw += amount * Decimal(pair.get("loan", "0"))
    uncapped = grant_raw + loan_raw
    capped: list[str] = []
    base = cents(uncapped)
    if aid.get("max_aid") is not None and base > Decimal(aid["max_aid"]):
        base, capped = Decimal(aid["max_aid"]), ["max_aid"]
    grant = cents(base * grant_raw / uncapped) if uncapped else ZERO
    loan = base - grant
    if aid.get("max_grant") is not None and grant > Decimal(aid["max_grant"]):
        grant = Decimal(aid["max_grant"])
        base = grant + loan
        capped.append("max_grant")
    return {
        "base": text(base),
        "grant": text(grant),
        "loan": text(loan),
        "capped": capped,
        "instalments": schedule(aid, loan, pre_amortisation_months),
    }


def schedule(aid: Mapping[str, Any], loan: Decimal, pre_amortisation_months: int) -> list[dict[str, Any]]:
    """Loan instalments: interest-only during pre-amortisation, then equal principal.

    Each instalment is ``{"n", "month", "principal", "interest"}``, ``month``
    counted from the award; the principal parts add up to the loan exactly (the
    last one takes the rounding remainder).
    """
    per_year = int(aid.get("instalments_per_year", 2))
    count = int(aid.get("loan_years", 0)) * per_year
    if loan <= 0 or count == 0:
        return []
    rate = Decimal(aid.get("loan_interest", "0")) / per_year
    step = 12 // per_year
    rows: list[dict[str, Any]] = []
    month = 0
    while month + step <= pre_amortisation_months:
        month += step
        rows.append(
            {"n": len(rows) + 1, "month": month, "principal": text(ZERO), "interest": text(loan * rate)}
        )
    share = cents(loan / count)
    outstanding = loan
    for index in range(count):
        month += step
        principal = outstanding if index == count - 1 else share
        rows.append(
            {
                "n": len(rows) + 1,
                "month": month,
                "principal": text(principal),
                "interest": text(outstanding * rate),
            }
        )
        outstanding -= principal
    return rows
