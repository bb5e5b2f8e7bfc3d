"""Partners are identified by a valid codice fiscale or partita IVA; memberships are sound."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests.factories import World, partners
from workflow.errors import GuardRefused, InvalidInput
from workflow.store.tables import ENTITY, EVENT


def register(world: World, members: list[dict[str, Any]]) -> str:
    payload = {"name": "Filiera", "agreement": "Accordo di progetto", "partners": members}
    return world.engine.create(
        "partnership", actor="capofila.alfa", role="applicant", payload=payload
    ).entity_id


def stored(world: World) -> tuple[int, int]:
    with world.engine.db.connect() as c:
        return (
            c.execute(select(func.count()).select_from(ENTITY)).scalar_one(),
            c.execute(select(func.count()).select_from(EVENT)).scalar_one(),
        )


class TestTaxCodes:
    def test_company_partita_iva(self, world: World) -> None:
        """An 11-digit partita IVA with a valid check digit is accepted and kept compact."""
        pid = register(
            world, [{"tax_code": " 00743110157 ", "name": "A", "lombardy_seat": True, "capofila": True}]
        )
        assert world.engine.get("partnership", pid).data["partners"][0]["tax_code"] == "00743110157"

    def test_personal_codice_fiscale(self, world: World) -> None:
        """A professional's 16-character codice fiscale is accepted (upper-cased)."""
        person = {
            "tax_code": "rssmra85t10a562s",
            "name": "Mario Rossi",
            "kind": "professional",
            "lombardy_seat": True,
            "role": "consulente",
        }
        pid = register(world, [*partners(1), person])
        assert world.engine.get("partnership", pid).data["partners"][1]["tax_code"] == "RSSMRA85T10A562S"

    @pytest.mark.parametrize("code", ["00743110158", "RSSMRA85T10A562X", "12345", ""])
    def test_invalid_code_writes_nothing(self, world: World, code: str) -> None:
        """A wrong check digit or shape is invalid input naming the field; nothing is stored."""
        before = stored(world)
        members = partners(3)
        members[2]["tax_code"] = code
        with pytest.raises(InvalidInput) as caught:
            register(world, members)
        assert caught.value.field == "partners.2.tax_code"
        assert "codice fiscale" in caught.value.reason or code == ""
        assert stored(world) == before


class TestMembership:
    def test_partner_listed_twice(self, world: World) -> None:
        """The same codice fiscale twice is refused, naming it."""
        members = partners(3)
        members[2]["tax_code"] = members[1]["tax_code"]
        with pytest.raises(GuardRefused) as caught:
            register(world, members)
        assert caught.value.guard == "members_valid"
        assert members[1]["tax_code"] in caught.value.reason

    @pytest.mark.parametrize("leads", [0, 2])
    def test_exactly_one_capofila(self, world: World, leads: int) -> None:
        """Exactly one partner is the capofila."""
        members = partners(3)
        for i, member in enumerate(members):
            member["capofila"] = i < leads
        with pytest.raises(GuardRefused, match=f"exactly one capofila is required, found {leads}"):
            register(world, members)

    def test_operator_names_the_owner(self, world: World) -> None:
        """An operator registering for someone must name the owner account."""
        payload = {"name": "F", "agreement": "A", "partners": partners(2)}
        with pytest.raises(GuardRefused, match="must name the owner"):
            world.engine.create("partnership", actor="op.rossi", role="operator", payload=payload)
        pid = world.engine.create(
            "partnership", actor="op.rossi", role="operator", payload={**payload, "owner": "capofila.z"}
        ).entity_id
        assert world.engine.get("partnership", pid).data["owner"] == "capofila.z"

    def test_only_the_owner_amends(self, world: World) -> None:
        """Another applicant may not amend a partnership; its owner and operators may."""
        pid = register(world, partners(2))
        amended = {"name": "F2", "agreement": "A2", "partners": partners(3)}
        with pytest.raises(GuardRefused) as caught:
            world.engine.fire(
                "partnership", pid, "amend", actor="capofila.other", role="applicant", payload=amended
            )
        assert caught.value.guard == "owner"
        world.engine.fire("partnership", pid, "amend", actor="op.rossi", role="operator", payload=amended)
        assert len(world.engine.get("partnership", pid).data["partners"]) == 3
