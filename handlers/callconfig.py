"""The configuration file of a Phase-1 call, validated.

Calls differ in every number, so they are data (``workflow/examples/calls``).
Local times are read in the call's time zone and stored as UTC instants; a
time that does not exist or is ambiguous under DST is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, field_validator, model_validator

from handlers.base import InvalidPayload
from handlers.criteria import normalise_versions, reachable
from handlers.payloads import Int, Payload
from handlers.preavviso import Preavviso
from handlers.timeutil import local_to_utc, to_json, year_problem

PartnerKind = Literal[
    "company",
    "professional",
    "business_association",
    "research_body",
    "university",
    "foundation",
    "trade_fair_body",
    "training_school",
    "secondary_school",
    "financial_institution",
    "investment_fund",
    "other",
]


def _a_local_time(text: str) -> str:
    """A real calendar time in the years callers may give (the zone is checked by the model)."""
    moment = datetime.fromisoformat(text)  # ValueError for month 13 or day 32
    problem = year_problem(moment.year)
    if problem:
        raise ValueError(problem)
    return text


#: A local time as configured, in ASCII digits (a pattern's \d would take any script's digits).
LocalTime = Annotated[
    str,
    Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$"),
    AfterValidator(_a_local_time),
]
Name = Annotated[str, Field(min_length=1, max_length=300)]


class Extension(Payload):
    """A later act (*proroga*) that moves the deadline."""

    at: LocalTime
    act: Name
    adopted_at: LocalTime


class Deadline(Payload):
    """The original deadline and the acts that extended it."""

    at: LocalTime
    act: Name
    extensions: list[Extension] = []


class Composition(Payload):
    """Who may form a partnership."""

    min_companies_in_lombardy: Int = Field(ge=1)
    capofila_required: bool = True
    other_kinds_allowed: list[PartnerKind] = []
    role_required_for_other_kinds: bool = True


class Criterion(Payload):
    """One evaluation criterion: a range, or a set of allowed values."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    label: Name
    max: Int = Field(ge=0)
    allowed: list[Int] | None = None

    @model_validator(mode="after")
    def _allowed_within_max(self) -> Criterion:
        if self.allowed is not None and any(v < 0 or v > self.max for v in self.allowed):
            raise ValueError(f"allowed values of {self.name} must lie in 0..{self.max}")
        return self


class CriteriaVersion(Payload):
    """Criteria set by a later act, judging proposals submitted from ``effective_at`` on."""

    act: Name
    effective_at: LocalTime
    criteria: list[Criterion] = Field(min_length=1)
    threshold: Int | None = Field(default=None, ge=0)


class Evaluation(Payload):
    """How proposals are scored, and the terms of the procedure.

    ``act`` set the first criteria (default: the call's act); ``versions`` are
    the later acts that replaced them (see :mod:`handlers.criteria`).
    """

    criteria: list[Criterion] = Field(min_length=1)
    threshold: Int = Field(ge=0)
    term_days: Int = Field(ge=1, le=3650)
    integration_due_days: Int = Field(ge=1, le=3650)
    act: Name | None = None
    versions: list[CriteriaVersion] = Field(default=[], max_length=100)

    @model_validator(mode="after")
    def _threshold_reachable(self) -> Evaluation:
        reachable(self.criteria, self.threshold)
        for version in self.versions:
            reachable(version.criteria, self.threshold if version.threshold is None else version.threshold)
        return self


class CallConfig(Payload):
    """A Phase-1 call as its configuration file states it."""

    code: Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,39}$")]
    title: Name
    authority: Name
    act: Name
    timezone: str = "Europe/Rome"
    opens_at: LocalTime
    deadline: Deadline
    areas: dict[Annotated[str, Field(pattern=r"^[a-z]$")], Name] = Field(min_length=1)
    min_areas: Int = Field(default=1, ge=1)
    composition: Composition
    evaluation: Evaluation
    preavviso: Preavviso = Preavviso()
    sources: list[str] = []
    notes: list[str] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def check(self) -> None:
        """Every configured local time must be one instant, in a sensible order."""
        tz = ZoneInfo(self.timezone)
        opens = local_instant("opens_at", self.opens_at, tz)
        previous = local_instant("deadline.at", self.deadline.at, tz)
        if previous <= opens:
            raise InvalidPayload("deadline.at", "must be after opens_at")
        for index, extension in enumerate(self.deadline.extensions):
            where = f"deadline.extensions.{index}"
            moved = local_instant(f"{where}.at", extension.at, tz)
            if moved <= previous:
                raise InvalidPayload(f"{where}.at", "must move the deadline later")
            adopted = local_instant(f"{where}.adopted_at", extension.adopted_at, tz)
            if adopted > previous:  # a reopening is an act fired on the call, seen in its history
                raise InvalidPayload(
                    f"{where}.adopted_at",
                    "is after the deadline it moves: an act that reopens a closed call is fired as "
                    "`extend` with reopens = true",
                )
            previous = moved
        effective = None
        for index, version in enumerate(self.evaluation.versions):
            where = f"evaluation.versions.{index}.effective_at"
            moment = local_instant(where, version.effective_at, tz)
            if effective is not None and moment <= effective:
                raise InvalidPayload(where, "must be after the version before it")
            effective = moment


def local_instant(field: str, text: str, tz: ZoneInfo) -> datetime:
    """A configured local time as a UTC instant; InvalidPayload naming ``field`` if it is not one."""
    try:
        return local_to_utc(text, tz)
    except ValueError as exc:
        raise InvalidPayload(field, str(exc)) from exc


def normalise(config: dict[str, Any]) -> dict[str, Any]:
    """Add the UTC instants the guards read: ``opens_at_utc``, ``deadlines``, ``criteria_versions``.

    ``deadlines`` lists every version in the order the acts were adopted; the
    version in force at an instant is the last one adopted by then. The same
    holds for ``criteria_versions`` (:mod:`handlers.criteria`).
    """
    tz = ZoneInfo(config["timezone"])
    deadline = config["deadline"]
    versions = [{"at": to_json(local_to_utc(deadline["at"], tz)), "act": deadline["act"], "adopted_at": None}]
    for extension in deadline.get("extensions", []):
        versions.append(
            {
                "at": to_json(local_to_utc(extension["at"], tz)),
                "act": extension["act"],
                "adopted_at": to_json(local_to_utc(extension["adopted_at"], tz)),
            }
        )
    return {
        **config,
        "opens_at_utc": to_json(local_to_utc(config["opens_at"], tz)),
        "deadlines": versions,
        "criteria_versions": normalise_versions(config, tz),
    }
