"""The rules of a funded project, per measure: terms, advance, reporting, recomputation, interest.

They are the ``[project]`` table of a measure file. Every key has a default
(tagged [A] in ``docs/measures.md``: the real values were not found), so a
measure file without the table, and a measure stored before the table existed,
still yield a full set of rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field

from handlers.money import Rate
from handlers.payloads import Int, Payload
from handlers.settlement import LEGAL_RATES

Year = Annotated[str, Field(pattern=r"^(19|20|21)[0-9]{2}$")]


class ProjectRules(Payload):
    """What a funded project must do, and by when."""

    acceptance_days: Int = Field(default=30, ge=1, le=3650)
    advance_share: Rate = Decimal("0.40")
    guarantee_required: bool = False
    guarantee_share: Rate = Decimal("1")
    sal_max: Int = Field(default=2, ge=0, le=20)
    final_report_days: Int = Field(default=90, ge=1, le=3650)
    min_share: Rate = Decimal("0.70")
    substitution_days: Int = Field(default=60, ge=1, le=3650)
    loan_instalments: Int | None = Field(default=None, ge=1, le=600)
    legal_interest: dict[Year, Rate] = Field(
        default_factory=lambda: {y: Decimal(r) for y, r in LEGAL_RATES.items()}
    )


def rules_of(measure: Mapping[str, Any]) -> dict[str, Any]:
    """The project rules of a stored measure, with the defaults for what it does not say."""
    raw = dict(measure.get("project") or {})
    rates = {**LEGAL_RATES, **raw.get("legal_interest", {})}
    return ProjectRules.model_validate({**raw, "legal_interest": rates}).model_dump(mode="json")
