"""What a measure may require of an application besides its partners and amounts.

Each measure's bando asks for different things, so they are configuration
(``[requirements]`` in the measure file), checked when the application is
submitted and, for the project's dates, again when it is funded:

- documents, some signed by every partner (the *accordo di filiera*), some
  waived for a filiera recognised in Phase 1 (the SWOT analysis of the Bando
  Filiere 2022);
- the stamp duty (*imposta di bollo*, EUR 16, D.P.R. 642/1972): a declared
  14-digit stamp serial, or the reference of a virtual payment, never reused
  within the measure;
- the project's start and end dates: the measure's longest duration (from the
  start, or from the concession) and its latest end date.

Refusals name what is missing and who (:mod:`handlers.composition`).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, field_validator, model_validator

from handlers.base import Refusal, Snapshot
from handlers.composition import Violation, refusal
from handlers.money import Money
from handlers.partners import normalise_tax_code
from handlers.payloads import Payload
from handlers.timeutil import from_json


def _a_date(text: str) -> str:
    date.fromisoformat(text)  # ValueError for 2025-02-30
    return text


#: A calendar date, ``YYYY-MM-DD`` in ASCII digits.
Day = Annotated[str, Field(pattern=r"^(19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}$"), AfterValidator(_a_date)]
Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Label = Annotated[str, Field(min_length=1, max_length=300)]


# --- configuration ------------------------------------------------------------


class RequiredDocument(Payload):
    """A document the application must carry."""

    name: Key
    label: Label
    signed_by_every_partner: bool = False
    unless_recognised: bool = False


class StampDuty(Payload):
    """The *imposta di bollo* on the application, where the measure requires it."""

    required: bool = False
    amount: Money = Decimal("16.00")


class Dates(Payload):
    """The project's dates: whether they are required, and the limits they must meet."""

    required: bool = False
    latest_end: Day | None = None
    start_after_submission: bool = False
    months_from: Literal["start", "concession"] = "start"


class Requirements(Payload):
    """Everything a measure may require besides partners and amounts."""

    documents: list[RequiredDocument] = Field(default=[], max_length=50)
    stamp_duty: StampDuty = StampDuty()
    dates: Dates = Dates()


# --- what the application declares ---------------------------------------------


class Document(Payload):
    """A document attached to the application, and the partners (codici fiscali) who signed it."""

    name: Key
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    signed_by: list[str] = Field(default=[], max_length=500)

    @field_validator("signed_by")
    @classmethod
    def _valid_codes(cls, values: list[str]) -> list[str]:
        return sorted({normalise_tax_code(v) for v in values})


class Stamp(Payload):
    """The stamp duty paid: the 14-digit serial of a *marca da bollo*, or a virtual payment's reference."""

    serial: Annotated[str, Field(pattern=r"^[0-9]{14}$")] | None = None
    payment_reference: Annotated[str, Field(pattern=r"^[A-Za-z0-9/-]{5,35}$")] | None = None

    @model_validator(mode="after")
    def _one_of_them(self) -> Stamp:
        if (self.serial is None) == (self.payment_reference is None):
            raise ValueError("give either the stamp's 14-digit serial or a virtual payment reference")
        return self


# --- checks -------------------------------------------------------------------------


def documents_refusal(
    rules: Mapping[str, Any], application: Mapping[str, Any], recognised: bool
) -> Refusal | None:
    """Each required document is there, signed by every partner where it must be."""
    given = {d["name"]: d for d in application.get("documents", [])}
    violations = []
    for required in rules.get("documents", []):
        if required["unless_recognised"] and recognised:
            continue
        document = given.get(required["name"])
        if document is None:
            missing = f"missing document: {required['label']} ({required['name']})"
            violations.append(Violation("document", missing, details={"document": required["name"]}))
        elif required["signed_by_every_partner"]:
            unsigned = tuple(p for p in application["partners"] if p["tax_code"] not in document["signed_by"])
            if unsigned:
                violations.append(
                    Violation("signed_by_every_partner", f"{required['label']} not signed by", unsigned)
                )
    return refusal("required_documents", violations)


def _stamp_key(stamp: Mapping[str, Any]) -> str:
    return f"serial {stamp['serial']}" if stamp.get("serial") else f"payment {stamp['payment_reference']}"


def stamp_refusal(
    rules: Mapping[str, Any], application: Mapping[str, Any], others: Sequence[Snapshot]
) -> Refusal | None:
    """The stamp duty is declared where required, and its serial or reference is used only once."""
    stamp = application.get("stamp_duty")
    duty = rules.get("stamp_duty", {})
    if stamp is None:
        if not duty.get("required"):
            return None
        return Refusal(
            "stamp_duty",
            f"the stamp duty of {duty['amount']} EUR is required: declare the stamp's 14-digit serial "
            "or the virtual payment's reference",
            {"amount": duty["amount"]},
        )
    key = _stamp_key(stamp)
    for other in others:
        theirs = other.data.get("stamp_duty")
        if theirs and _stamp_key(theirs) == key:
            return Refusal(
                "stamp_duty",
                f"stamp duty {key} already used by application {other.id}",
                {"application": other.id, "stamp": dict(stamp)},
            )
    return None


def add_months(day: date, months: int) -> date:
    """The same day ``months`` calendar months later (the month's last day when it is shorter)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def dates_refusal(
    measure: Mapping[str, Any], application: Mapping[str, Any], now: datetime, funding: bool
) -> Refusal | None:
    """Start and end dates against the measure's duration and latest end, at submission or funding."""
    rules = measure.get("requirements", {}).get("dates", {})
    starts, ends = application.get("starts_on"), application.get("ends_on")
    if starts is None or ends is None:
        if rules.get("required"):
            return Refusal("project_dates", "the project's start and end dates are required", {})
        return None
    zone = ZoneInfo(measure.get("timezone", "Europe/Rome"))
    today = now.astimezone(zone).date()
    start, end = date.fromisoformat(starts), date.fromisoformat(ends)
    most = measure["amounts"]["max_duration_months"]
    from_concession = funding and rules.get("months_from") == "concession"
    base = today if from_concession else start
    latest = rules.get("latest_end")
    submitted = application.get("submitted_at")
    submitted_day = from_json(submitted).astimezone(zone).date() if submitted else today
    early = rules.get("start_after_submission") and start < submitted_day
    violations = [
        *(
            [Violation("dates_order", f"the project ends on {end}, before it starts on {start}")]
            if end < start
            else []
        ),
        *(
            [
                Violation(
                    "start_after_submission",
                    f"the project starts on {start}, before the application ({submitted_day})",
                )
            ]
            if early
            else []
        ),
        *(
            [
                Violation(
                    "max_duration_months",
                    f"the project ends on {end}, more than {most} months after "
                    f"{'the concession' if from_concession else 'its start'} ({base}): at the latest "
                    f"{add_months(base, most)}",
                    details={"ends_on": ends, "latest": add_months(base, most).isoformat()},
                )
            ]
            if end > add_months(base, most)
            else []
        ),
        *(
            [Violation("latest_end", f"the project ends on {end}, after the measure's latest end {latest}")]
            if latest and end > date.fromisoformat(latest)
            else []
        ),
    ]
    return refusal("project_dates", violations)
