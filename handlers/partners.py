"""Partners and their identity: codice fiscale or partita IVA, checked.

A company is identified by its 11-digit codice fiscale / partita IVA; a
person (a professional) by the 16-character codice fiscale. Both are checked
with python-stdnum, so a typo is caught when the partnership registers, not
when an evaluator meets it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.it import codicefiscale

from handlers.callconfig import Name, PartnerKind
from handlers.payloads import Payload

Size = Literal["sme", "midcap", "large"]


def normalise_tax_code(value: str) -> str:
    """Compact and check a codice fiscale / partita IVA; raise ValueError if invalid."""
    try:
        return str(codicefiscale.validate(value)).upper()
    except StdnumError as exc:
        raise ValueError(f"{value!r} is not a valid codice fiscale / partita IVA") from exc


class Partner(Payload):
    """One member of a partnership."""

    tax_code: str
    name: Name
    kind: PartnerKind = "company"
    lombardy_seat: bool
    capofila: bool = False
    role: Annotated[str, Field(max_length=500)] | None = None
    size: Size | None = None

    @field_validator("tax_code")
    @classmethod
    def _valid_tax_code(cls, value: str) -> str:
        return normalise_tax_code(value)


class Members(Payload):
    """The partners of a partnership, and the agreement that binds them."""

    name: Name
    agreement: Name
    partners: list[Partner] = Field(min_length=1, max_length=1000)


class TaxCodes(Payload):
    """A list of codici fiscali (an evaluator's ties)."""

    ties: list[str] = Field(max_length=1000)

    @field_validator("ties")
    @classmethod
    def _valid_codes(cls, values: list[str]) -> list[str]:
        return sorted({normalise_tax_code(v) for v in values})
