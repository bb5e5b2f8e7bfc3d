"""Test data: valid Italian tax codes, partnerships, a Phase-1 world on a clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from stdnum import luhn

from workflow.clock import SimulatedClock
from workflow.config import example_call_path, read_call_file
from workflow.engine import Engine

ROME = ZoneInfo("Europe/Rome")
CALL_ID = "MI-FILIERE-2022"


def rome(*args: int) -> datetime:
    """An aware Europe/Rome datetime."""
    return datetime(*args, tzinfo=ROME)  # type: ignore[misc]


def partita_iva(n: int) -> str:
    """The ``n``-th valid 11-digit partita IVA (province code 015, Milano)."""
    body = f"{n:07d}015"
    return body + luhn.calc_check_digit(body)


def tax_codes(start: int = 1) -> Iterator[str]:
    """An endless supply of distinct valid partite IVA."""
    n = start
    while True:
        yield partita_iva(n)
        n += 1


def partners(
    companies: int = 10, *, start: int = 1, lombardy: bool = True, extra: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """``companies`` Lombard companies, the first one capofila, plus ``extra``."""
    codes = tax_codes(start)
    members = [
        {
            "tax_code": next(codes),
            "name": f"Impresa {start + i} S.r.l.",
            "lombardy_seat": lombardy,
            "capofila": i == 0,
        }
        for i in range(companies)
    ]
    return members + (extra or [])


def call_config(**overrides: Any) -> dict[str, Any]:
    """The shipped 2022 call configuration, with top-level ``overrides``."""
    return {**read_call_file(example_call_path("manifestazione-2022")), **overrides}


@dataclass
class World:
    """An engine on a real database (SQLite file or PostgreSQL schema), a simulated clock, shortcuts."""

    engine: Engine
    clock: SimulatedClock
    path: str
    url: str = ""
    connect_args: dict[str, Any] | None = None

    def another_engine(self) -> Engine:
        """A second engine on the same database (as another process would open it)."""
        from workflow.store.db import make_engine

        if self.url:
            return Engine(db=make_engine(self.url, connect_args=self.connect_args or {}), clock=self.clock)
        return Engine(f"sqlite:///{self.path}", clock=self.clock)

    def at(self, *args: int) -> World:
        """Set the clock to a Europe/Rome local time."""
        self.clock.set(rome(*args))
        return self

    def open_call(self, config: dict[str, Any] | None = None) -> str:
        """Create the 2022 call and open it (clock moved to its opening if earlier)."""
        config = config or call_config()
        self.engine.create("call", actor="op.rossi", role="operator", payload=config)
        if self.clock.now() < rome(2022, 3, 1, 9):
            self.at(2022, 3, 1, 9)
        self.engine.fire("call", config["code"], "open", actor="system", role="system")
        return str(config["code"])

    def partnership(
        self, owner: str = "capofila.alfa", *, companies: int = 10, start: int = 1, **kw: Any
    ) -> str:
        """Register a partnership owned by ``owner``; return its id."""
        event = self.engine.create(
            "partnership",
            actor=owner,
            role="applicant",
            payload={
                "name": f"Filiera {owner}",
                "agreement": "Accordo di progetto 2022",
                "partners": partners(companies, start=start, **kw),
            },
        )
        return event.entity_id

    def draft(
        self,
        owner: str = "capofila.alfa",
        *,
        partnership: str | None = None,
        call: str = CALL_ID,
        **fields: Any,
    ) -> str:
        """Open a complete draft proposal; return its id."""
        partnership = partnership or self.partnership(owner)
        payload = {
            "call_id": call,
            "partnership_id": partnership,
            "title": "Filiera dell'auto elettrica",
            "summary": "Progetto di filiera",
            "areas": ["a", "b"],
            **fields,
        }
        return self.engine.create("proposal", actor=owner, role="applicant", payload=payload).entity_id

    def submitted(self, owner: str = "capofila.alfa", **kw: Any) -> str:
        """A draft, submitted now."""
        proposal = self.draft(owner, **kw)
        self.engine.fire("proposal", proposal, "submit", actor=owner, role="applicant")
        return proposal

    def evaluator(self, name: str = "eval.bianchi", ties: list[str] | None = None) -> str:
        """Register an evaluator with the given ties."""
        self.engine.create(
            "evaluator",
            actor="op.rossi",
            role="operator",
            entity_id=name,
            payload={"name": name, "ties": ties or []},
        )
        return name

    def scores(self, total_high: bool = True) -> dict[str, int]:
        """Scores above (80) or below (40) the shipped threshold of 60."""
        return (
            {"coherence": 20, "partnership": 20, "innovation": 25, "impact": 15}
            if total_high
            else {"coherence": 10, "partnership": 10, "innovation": 10, "impact": 10}
        )

    def evaluated(self, owner: str = "capofila.alfa", evaluator: str = "eval.bianchi", **kw: Any) -> str:
        """A proposal submitted and judged worthy."""
        proposal = self.submitted(owner, **kw)
        if self.engine.machines and not _exists(self.engine, "evaluator", evaluator):
            self.evaluator(evaluator)
        self.engine.fire(
            "proposal",
            proposal,
            "evaluate",
            actor=evaluator,
            role="evaluator",
            payload={"scores": self.scores()},
        )
        return proposal

    def decree(self, proposal_ids: list[str], act: str = "d.d.u.o. n. 1") -> str:
        """A director's decree listing ``proposal_ids``, approved now; return its id."""
        decree = self.engine.create(
            "decree",
            actor="dir.verdi",
            role="director",
            payload={"call_id": CALL_ID, "act": act, "proposal_ids": proposal_ids},
        )
        self.engine.fire("decree", decree.entity_id, "approve", actor="dir.verdi", role="director")
        return decree.entity_id


def _exists(engine: Engine, kind: str, entity_id: str) -> bool:
    from workflow.errors import NotFound

    try:
        engine.get(kind, entity_id)
    except NotFound:
        return False
    return True


def measure_config(name: str = "bando-filiere-2022", **overrides: Any) -> dict[str, Any]:
    """A shipped measure configuration, with top-level ``overrides``."""
    from workflow.config import example_measure_path, read_measure_file

    return {**read_measure_file(example_measure_path(name)), **overrides}


def applicants(
    count: int = 10,
    *,
    start: int = 500,
    size: str = "sme",
    main: str = "30000.00",
    experimental: str = "0.00",
) -> list[dict[str, Any]]:
    """``count`` Lombard companies of one size with equal costs, the first capofila."""
    codes = tax_codes(start)
    return [
        {
            "tax_code": next(codes),
            "name": f"Impresa {start + i} S.r.l.",
            "size": size,
            "lombardy_seat": True,
            "capofila": i == 0,
            "main": main,
            "experimental": experimental,
        }
        for i in range(count)
    ]
