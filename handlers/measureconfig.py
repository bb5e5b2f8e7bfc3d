"""The configuration file of a Phase-2 measure, validated.

Every number of a measure is data: its window, budget and procedure (ranked
*graduatoria* or first-come *sportello*), who may apply, how much, the aid
rates and caps, and the evaluation with the bonus for partnerships recognised
in Phase 1. Amounts and rates are strings, never floats.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from handlers.base import InvalidPayload
from handlers.callconfig import Criterion, LocalTime, Name, local_instant
from handlers.money import Money, Rate, text
from handlers.payloads import Int, Payload
from handlers.preavviso import Preavviso
from handlers.projectconfig import ProjectRules
from handlers.requirements import Requirements
from handlers.timeutil import to_json

Size = Literal["sme", "midcap", "large"]
Procedure = Literal["ranked", "first_come"]
SIZES: tuple[str, ...] = ("sme", "midcap", "large")


class Window(Payload):
    """When applications may be submitted; no end means "until the budget is exhausted"."""

    opens_at: LocalTime
    closes_at: LocalTime | None = None


class Composition(Payload):
    """Who may apply together."""

    min_partners: Int = Field(default=1, ge=1)
    min_companies: Int = Field(default=1, ge=1)
    min_smes: Int = Field(default=0, ge=0)
    sme_majority: bool = False
    max_large: Int | None = Field(default=None, ge=0)
    large_only_experimental: bool = False
    lombardy_seat_required: bool = True
    one_project_per_partner: bool = False
    one_grant_per_company: bool = False
    max_linked: Int | None = Field(default=None, ge=1)
    credit_scoring_max: Int | None = Field(default=None, ge=1, le=99)


class PartnerMinimums(Payload):
    """The least each partner must spend, by size (none: no minimum)."""

    sme: Money | None = None
    midcap: Money | None = None
    large: Money | None = None


class Amounts(Payload):
    """How large a project may be, and how it may be split."""

    project_min: Money
    project_max: Money | None = None
    partner_min: PartnerMinimums = PartnerMinimums()
    experimental_share_max: Rate | None = None
    experimental_cap: Money | None = None
    max_duration_months: Int = Field(ge=1, le=600)

    @model_validator(mode="after")
    def _max_above_min(self) -> Amounts:
        if self.project_max is not None and self.project_max < self.project_min:
            raise ValueError("project_max must not be below project_min")
        return self


class RatePair(Payload):
    """Grant and loan as shares of eligible costs."""

    grant: Rate
    loan: Rate = Decimal("0")

    @model_validator(mode="after")
    def _at_most_everything(self) -> RatePair:
        if self.grant + self.loan > 1:
            raise ValueError("grant + loan may not exceed 1 (100% of the costs)")
        return self


class Rates(Payload):
    """Rates by applicant size; a size left out is not eligible for that kind of cost."""

    sme: RatePair | None = None
    midcap: RatePair | None = None
    large: RatePair | None = None


class Aid(Payload):
    """How aid is computed, capped and repaid."""

    main: Rates
    experimental: Rates | None = None
    variants: dict[Annotated[str, Field(pattern=r"^[a-z][a-z_]*$")], Rates] = {}
    max_aid: Money | None = None
    max_grant: Money | None = None
    loan_interest: Rate = Decimal("0")
    loan_years: Int = Field(default=0, ge=0, le=30)
    pre_amortisation_max_months: Int = Field(default=0, ge=0, le=240)
    instalments_per_year: Int = Field(default=2, ge=1, le=12)


class Bonus(Payload):
    """Points for partnerships recognised in Phase 1, added only above the threshold."""

    points: Int = Field(ge=0)
    call_id: Name
    submitted_by: LocalTime | None = None
    recognised_by: LocalTime | None = None


class Evaluation(Payload):
    """Criteria, threshold and bonus."""

    criteria: list[Criterion] = Field(min_length=1)
    threshold: Int = Field(ge=0)
    bonus: Bonus | None = None
    integration_due_days: Int = Field(default=10, ge=1, le=3650)

    @model_validator(mode="after")
    def _threshold_reachable(self) -> Evaluation:
        total = sum(c.max for c in self.criteria)
        if self.threshold > total:
            raise ValueError(f"threshold {self.threshold} exceeds the maximum score {total}")
        if len({c.name for c in self.criteria}) != len(self.criteria):
            raise ValueError("criterion names must be unique")
        return self


class MeasureConfig(Payload):
    """A Phase-2 measure as its configuration file states it."""

    code: Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,39}$")]
    title: Name
    authority: Name
    act: Name
    timezone: str = "Europe/Rome"
    procedure: Procedure
    budget: Money
    window: Window
    composition: Composition
    amounts: Amounts
    aid: Aid
    evaluation: Evaluation
    project: ProjectRules = ProjectRules()
    preavviso: Preavviso = Preavviso()
    requirements: Requirements = Requirements()
    sources: list[str] = []
    notes: list[str] = []

    def check(self) -> None:
        """Times are instants in order; the budget is not zero; no preavviso in a ranked procedure."""
        if self.procedure == "ranked" and self.preavviso.required:
            raise InvalidPayload(
                "preavviso.required",
                "a ranked procedure is competitive (concorsuale): L. 241/1990 art. 10-bis does not apply",
            )
        tz = ZoneInfo(self.timezone)
        opens = local_instant("window.opens_at", self.window.opens_at, tz)
        if (
            self.window.closes_at is not None
            and local_instant("window.closes_at", self.window.closes_at, tz) <= opens
        ):
            raise InvalidPayload("window.closes_at", "must be after window.opens_at")
        bonus = self.evaluation.bonus
        if bonus is not None:
            for name in ("submitted_by", "recognised_by"):
                value = getattr(bonus, name)
                if value is not None:
                    local_instant(f"evaluation.bonus.{name}", value, tz)
        if self.budget <= 0:
            raise InvalidPayload("budget", "must be more than zero")


def normalise(config: dict[str, Any]) -> dict[str, Any]:
    """Add the UTC instants the guards read and the budget's running totals."""
    tz = ZoneInfo(config["timezone"])
    window = config["window"]
    bonus = config["evaluation"].get("bonus")
    cutoffs: dict[str, Any] = {}
    if bonus:
        for name in ("submitted_by", "recognised_by"):
            cutoffs[name] = to_json(local_instant(name, bonus[name], tz)) if bonus.get(name) else None
    return {
        **config,
        "opens_at_utc": to_json(local_instant("window.opens_at", window["opens_at"], tz)),
        "closes_at_utc": to_json(local_instant("window.closes_at", window["closes_at"], tz))
        if window.get("closes_at")
        else None,
        "bonus_cutoffs_utc": cutoffs,
        "reserved": text(Decimal(0)),
        "reservations": {},
    }
