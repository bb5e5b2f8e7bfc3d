"""Payload models of the Project machine: payment orders, guarantees, reports, decisions, changes.

Dates a person gives (a payment's value date, a repayment's) are calendar days
(``"2023-03-15"``) within the years every input is bounded to; documents are
named and carry their SHA-256 in hexadecimal, so that what was reported can be
proved later without storing the files.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from handlers.base import InvalidPayload
from handlers.callconfig import LocalTime, Name, PartnerKind
from handlers.measureconfig import Size
from handlers.money import Money
from handlers.partners import normalise_tax_code
from handlers.payloads import Empty, Int, OptionalReason, Payload, Reason
from handlers.timeutil import local_to_utc, year_problem


def _bounded(day: date) -> date:
    problem = year_problem(day.year)
    if problem:
        raise ValueError(problem)
    return day


#: A calendar day given by a person, within the input years.
Day = Annotated[date, AfterValidator(_bounded)]
TaxCode = Annotated[str, AfterValidator(normalise_tax_code)]


class Open(Payload):
    """Open the project of a funded application (the award is notified)."""

    application_id: Name


class Guarantee(Payload):
    """A guarantee (*fideiussione*) against the advance."""

    issuer: Name
    amount: Money
    reference: Name | None = None


class PayAdvance(Payload):
    """The payment order (*mandato*) of the advance."""

    mandate: Name
    paid_on: Day
    amount: Money
    guarantee: Guarantee | None = None


class Document(Payload):
    """A document behind a spending item: its name and the SHA-256 of its content."""

    name: Name
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Item(Payload):
    """One spending item of a report."""

    partner: TaxCode
    category: Annotated[str, Field(min_length=1, max_length=60)]
    description: Name
    amount: Money
    documents: Annotated[list[Document], Field(min_length=1, max_length=50)]


class Report(Payload):
    """An intermediate (*SAL*) or final report of spending."""

    kind: Literal["sal", "final"]
    items: Annotated[list[Item], Field(min_length=1, max_length=2000)]


class Decision(Payload):
    """The operator's decision on one item: the amount admitted, and why any cut."""

    item: Name
    admitted: Money
    reason: Annotated[str, Field(max_length=2000)] | None = None


class Review(Payload):
    """The review of one report: a decision for each of its items."""

    report: Annotated[int, Field(ge=1, le=100, strict=True)]
    decisions: Annotated[list[Decision], Field(min_length=1, max_length=2000)]

    def check(self) -> None:
        """Each item is decided once."""
        seen: set[str] = set()
        for index, decision in enumerate(self.decisions):
            if decision.item in seen:
                raise InvalidPayload(f"decisions.{index}.item", f"item {decision.item} is decided twice")
            seen.add(decision.item)


class Leave(Payload):
    """A partner leaves the partnership."""

    partner: TaxCode
    reason: Name


class Newcomer(Payload):
    """The substitute that takes over a leaving partner's activities and costs."""

    tax_code: TaxCode
    name: Name
    kind: PartnerKind = "company"
    size: Size
    lombardy_seat: bool
    #: Its credit-scoring class, where the measure requires one (Rafforzamento filiere 2025).
    credit_scoring: Int | None = Field(default=None, ge=1, le=99)


class Substitute(Payload):
    """The operator approves a substitute for the partner that left."""

    partner: Newcomer
    act: Name


class Planned(Payload):
    """A partner's approved spending after a variant."""

    tax_code: TaxCode
    main: Money
    experimental: Money


class Variant(Payload):
    """A change to the project (*variante*): why, and the new approved spending of each partner."""

    reason: Name
    partners: Annotated[list[Planned], Field(min_length=1, max_length=500)]


class Reinstate(Payload):
    """The director does not forfeit: the term in course is extended to ``due`` (local time, Rome)."""

    reason: Name
    due: LocalTime

    def check(self) -> None:
        """The new term is a real instant in Rome."""
        try:
            local_to_utc(self.due)
        except ValueError as exc:
            raise InvalidPayload("due", str(exc)) from exc


class PayBalance(Payload):
    """The payment order of the balance (and the loan's disbursement)."""

    mandate: Name
    paid_on: Day
    amount: Money


class Repay(Payload):
    """The beneficiary's repayment: principal and statutory interest to the day it was paid."""

    paid_on: Day
    amount: Money
    reference: Name | None = None


PAYLOADS: dict[str, type[Payload]] = {
    "create": Open,
    "accept": Empty,
    "propose_forfeiture": Empty,
    "forfeit": Reason,
    "reinstate": Reinstate,
    "pay_advance": PayAdvance,
    "report": Report,
    "review": Review,
    "leave": Leave,
    "substitute": Substitute,
    "request_variant": Variant,
    "approve_variant": OptionalReason,
    "reject_variant": Reason,
    "recompute": OptionalReason,
    "pay_balance": PayBalance,
    "repay": Repay,
    "renounce": OptionalReason,
}
