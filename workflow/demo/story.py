"""The storyteller of ``filiere demo``: a simulated clock, the engine, and helpers that say what happens.

Both phases' chapters (``phase1``, ``phase2``) tell their events through one
``Story``, so the log's times only move forward and refusals are collected in
one place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from stdnum import luhn

from handlers.timeutil import for_people
from workflow.clock import SimulatedClock
from workflow.engine import Engine
from workflow.errors import FiliereError

ROME = ZoneInfo("Europe/Rome")
OPERATOR, DIRECTOR, SYSTEM = "op.rossi", "dir.verdi", "system"
Echo = Callable[[str], None]


def rome(year: int, month: int, day: int, *clock: int) -> datetime:
    """An aware Europe/Rome datetime; ``clock`` is hour, minute, second."""
    return datetime(year, month, day, *clock, tzinfo=ROME)  # type: ignore[misc, arg-type]


def piva(n: int) -> str:
    """The ``n``-th company's partita IVA: Milan-registered, with a valid check digit."""
    body = f"{n:07d}015"  # a Milan-registered partita IVA with a valid check digit
    return body + luhn.calc_check_digit(body)


@dataclass
class Story:
    """The demo's narrator: it fires through the engine and says each step, refusals included."""

    engine: Engine
    clock: SimulatedClock
    echo: Echo
    refusals: list[str] = field(default_factory=list)
    next_company: int = 100
    gamma_members: list[dict[str, Any]] = field(default_factory=list)

    def at(self, year: int, month: int, day: int, *clock: int) -> None:
        """Move the simulated clock to a Europe/Rome moment."""
        self.clock.set(rome(year, month, day, *clock))

    def say(self, text: str) -> None:
        """One line of the story, stamped with the simulated time."""
        self.echo(f"  {for_people(self.clock.now())[:16]}  {text}")

    def fire(self, kind: str, entity: str | None, trigger: str, actor: str, role: str, **payload: Any) -> Any:
        """Fire ``trigger`` with ``payload`` as keyword arguments."""
        return self.engine.fire(kind, entity, trigger, actor=actor, role=role, payload=payload)

    def refused(self, what: str, action: Callable[[], object]) -> None:
        """Run ``action``, which the engine must refuse; the refusal is told and kept."""
        try:
            action()
        except FiliereError as exc:
            self.refusals.append(f"{what}: {exc}")
            self.say(f"REFUSED {what}: {exc}")
        else:  # pragma: no cover - the story is built so that these fail
            raise AssertionError(f"{what} should have been refused")

    def companies(self, count: int, lead_name: str, *, lead: bool = True) -> list[dict[str, Any]]:
        """``count`` new Lombard companies, the first one the lead partner when ``lead``."""
        members = []
        for i in range(count):
            self.next_company += 1
            members.append(
                {
                    "tax_code": piva(self.next_company),
                    "name": f"{lead_name} S.p.A." if i == 0 else f"Impresa {self.next_company} S.r.l.",
                    "lombardy_seat": True,
                    "capofila": lead and i == 0,
                    "size": "large" if lead and i == 0 else "sme",
                }
            )
        return members

    def partnership(self, owner: str, name: str, members: list[dict[str, Any]]) -> str:
        """Register a partnership; return its id."""
        payload = {"name": name, "agreement": f"Accordo di progetto {name}", "partners": members}
        event = self.engine.create("partnership", actor=owner, role="applicant", payload=payload)
        self.say(f"partnership {event.entity_id} '{name}' registered by {owner}: {len(members)} partners")
        return str(event.entity_id)

    def draft(self, owner: str, partnership: str, title: str, areas: list[str]) -> str:
        """Open a draft proposal under the 2022 call; return its id."""
        payload = {
            "call_id": "MI-FILIERE-2022",
            "partnership_id": partnership,
            "title": title,
            "summary": f"Progetto di filiera: {title}",
            "areas": areas,
        }
        event = self.engine.create("proposal", actor=owner, role="applicant", payload=payload)
        self.say(f"draft {event.entity_id} '{title}' opened")
        return str(event.entity_id)

    def submit(self, owner: str, proposal: str) -> None:
        """Submit a proposal and tell its protocol number and receipt."""
        self.fire("proposal", proposal, "submit", owner, "applicant")
        data = self.engine.get("proposal", proposal).data
        digest = data["receipt"]["sha256"][:12]
        self.say(f"{proposal} submitted: protocol {data['protocol']}, receipt sha256 {digest}…")

    def evaluate(self, evaluator: str, proposal: str, scores: dict[str, int]) -> None:
        """Evaluate a proposal and tell its total and outcome."""
        event = self.fire("proposal", proposal, "evaluate", evaluator, "evaluator", scores=scores)
        total = event.payload["effects"]["total"]
        self.say(f"{proposal} evaluated by {evaluator}: {total}/100 -> {event.to_state}")


WORTHY = {"coherence": 18, "partnership": 30, "innovation": 24, "impact": 16}
GOOD = {"coherence": 16, "partnership": 20, "innovation": 20, "impact": 14}
WEAK = {"coherence": 10, "partnership": 10, "innovation": 12, "impact": 8}


def table(echo: Echo, rows: Sequence[Sequence[str]]) -> None:
    """Print rows as a left-aligned table; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        echo("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            echo("  " + "  ".join("-" * w for w in widths))
