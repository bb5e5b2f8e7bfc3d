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
   pre-amortisation period, interest on the outstanding principal;
5. the award is split per partner (:func:`per_partner`): the grant in
   proportion to the grant each partner's own admitted costs earn at its
   rates, the loan likewise, each to the cent by the largest remainder (the
   cents left after rounding every share down go one each to the largest
   fractions; ties to the capofila, then to the order of the partners), so the
   partners' shares add up to the application's figures exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Any

from handlers.money import CENT, ZERO, cents, text


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


def earned(
    aid: Mapping[str, Any], partner: Mapping[str, Any], variant: str | None
) -> tuple[Decimal, Decimal]:
    """The grant and loan a partner's own admitted costs earn at its size's rates, unrounded."""
    grant = loan = Decimal(0)
    for bucket in ("main", "experimental"):
        amount = Decimal(partner.get(bucket, "0"))
        pair = pair_for(aid, bucket, partner["size"], variant) if amount else None
        if pair is not None:
            grant += amount * Decimal(pair["grant"])
            loan += amount * Decimal(pair.get("loan", "0"))
    return grant, loan


def split(total: Decimal, weights: Sequence[Decimal], lead: int = 0) -> list[Decimal]:
    """``total`` in cents, in proportion to ``weights``, by the largest remainder.

    Every share is first rounded down to the cent; the cents left go one each
    to the shares with the largest fractions cut off, ties to the ``lead``
    (the capofila's index), then in order. The shares add up to ``total``
    exactly. Zero weights everywhere: everything to the lead.
    """
    whole = sum(weights, Decimal(0))
    if whole == 0:
        return [total if i == lead else ZERO for i in range(len(weights))]
    exact = [total * w / whole for w in weights]
    shares = [e.quantize(CENT, rounding=ROUND_DOWN) for e in exact]
    left = int((total - sum(shares, Decimal(0))) / CENT)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i != lead, i))
    for i in order[:left]:
        shares[i] += CENT
    return shares


def lead_index(partners: Sequence[Mapping[str, Any]]) -> int:
    """The capofila's position among the partners (the first, if none is marked)."""
    return next((i for i, p in enumerate(partners) if p.get("capofila")), 0)


def per_partner(
    aid: Mapping[str, Any],
    partners: Sequence[Mapping[str, Any]],
    award: Mapping[str, Any],
    variant: str | None,
) -> list[dict[str, Any]]:
    """The award's grant and loan split per partner (rule 5 above), JSON-ready."""
    rates = [earned(aid, p, variant) for p in partners]
    lead = lead_index(partners)
    grants = split(Decimal(award["grant"]), [g for g, _ in rates], lead)
    loans = split(Decimal(award["loan"]), [loan for _, loan in rates], lead)
    return [
        {"tax_code": p["tax_code"], "name": p["name"], "grant": text(g), "loan": text(v), "aid": text(g + v)}
        for p, g, v in zip(partners, grants, loans, strict=True)
    ]


def take_back(
    shares: Sequence[Mapping[str, Any]], grant: Decimal, loan: Decimal, lead: int
) -> list[dict[str, Any]]:
    """What a revocation of ``grant`` and ``loan`` takes from each partner, and what each keeps.

    The amounts taken are split in proportion to what each partner holds, by
    the same largest-remainder rule, so no partner gives back more than it holds
    and every figure still adds up.
    """
    grants = split(grant, [Decimal(s["grant"]) for s in shares], lead)
    loans = split(loan, [Decimal(s["loan"]) for s in shares], lead)
    rows = []
    for share, g, v in zip(shares, grants, loans, strict=True):
        kept_grant, kept_loan = Decimal(share["grant"]) - g, Decimal(share["loan"]) - v
        rows.append(
            {
                "tax_code": share["tax_code"],
                "name": share["name"],
                "revoked_grant": text(g),
                "revoked_loan": text(v),
                "grant": text(kept_grant),
                "loan": text(kept_loan),
                "aid": text(kept_grant + kept_loan),
            }
        )
    return rows
