"""Which jobs the domain asks for: derived from the tables, never stored apart from them.

A job is a trigger to fire on an entity at an instant. The plan is computed
from the entities as they are now, so an extension act, a new measure or an
integration request changes the plan the next time it is reconciled; nothing
here decides anything the engine's guards would not decide again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from handlers.timeutil import from_json, to_json
from workflow import Engine, Snapshot

#: Closing and lapsing fire just after the instant: the deadline itself is still on time.
AFTER = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Job:
    """Fire ``trigger`` on ``kind`` ``entity_id`` at ``run_at``; ``effective_at`` is the rule's instant."""

    kind: str
    entity_id: str
    trigger: str
    run_at: datetime
    effective_at: datetime
    payload: tuple[tuple[str, Any], ...] = ()

    @property
    def id(self) -> str:
        """Stable for the same decision: a moved deadline makes a new job."""
        return f"filiere:{self.kind}:{self.entity_id}:{self.trigger}:{to_json(self.effective_at)}"

    @property
    def idempotency_key(self) -> str:
        """Firing this job twice returns the first event and writes nothing."""
        return f"scheduler:{self.kind}:{self.entity_id}:{self.trigger}:{to_json(self.effective_at)}"


def _deadline_in_force(call: Snapshot, moment: datetime) -> datetime:
    from handlers.call import deadline_in_force

    return from_json(deadline_in_force(call.data, moment)["at"])


def call_jobs(call: Snapshot, now: datetime) -> list[Job]:
    """Open a scheduled call at its opening; close an open one after its deadline in force."""
    if call.state == "scheduled":
        opens = from_json(call.data["opens_at_utc"])
        return [Job("call", call.id, "open", opens, opens)]
    if call.state == "open":
        deadline = _deadline_in_force(call, now)
        return [Job("call", call.id, "close", deadline + AFTER, deadline)]
    return []


def measure_jobs(measure: Snapshot) -> list[Job]:
    """Open a planned measure at its window; close an open one after the window, if it has an end."""
    if measure.state == "planned":
        opens = from_json(measure.data["opens_at_utc"])
        return [Job("measure", measure.id, "open", opens, opens)]
    closes = measure.data.get("closes_at_utc")
    if measure.state == "open" and closes:
        end = from_json(closes)
        return [Job("measure", measure.id, "close", end + AFTER, end, (("reason", "window ended"),))]
    return []


def expiry_jobs(call: Snapshot, drafts: list[Snapshot]) -> list[Job]:
    """Expire each draft left under a closed call, at the deadline it closed on (due at once)."""
    deadline = from_json(call.data["closing_deadline"]["at"])
    return [Job("proposal", d.id, "expire", deadline + AFTER, deadline) for d in drafts]


def lapse_jobs(entity: Snapshot) -> list[Job]:
    """Lapse an integration request after its due date."""
    due = from_json(entity.data["integration"]["due"])
    return [Job(entity.kind, entity.id, "lapse", due + AFTER, due)]


def forfeiture_jobs(project: Snapshot) -> list[Job]:
    """Propose forfeiture (*decadenza*) once the term in course passed: the director decides.

    The term is the acceptance's for an awarded project, the substitute's for one
    waiting for a substitute, the final report's for one in progress.
    """
    due_text = {
        "awarded": project.data.get("acceptance_due"),
        "substitution_pending": (project.data.get("substitution") or {}).get("due"),
        "in_progress": project.data.get("final_report_due"),
    }.get(project.state)
    if due_text is None:
        return []
    due = from_json(due_text)
    return [Job("project", project.id, "propose_forfeiture", due + AFTER, due)]


def observation_jobs(entity: Snapshot) -> list[Job]:
    """Close a preavviso's observation window once it has passed unanswered (art. 10-bis)."""
    due = from_json(entity.data["preavviso"]["observations_due"])
    return [Job(entity.kind, entity.id, "close_observations", due + AFTER, due)]


def plan(engine: Engine) -> list[Job]:
    """Every job the database asks for now."""
    now = engine.clock.now()
    jobs: list[Job] = []
    for call in engine.entities("call", states=("scheduled", "open")):
        jobs += call_jobs(call, now)
    for call in engine.entities("call", states=("closed",)):
        jobs += expiry_jobs(call, engine.find("proposal", parent_id=call.id, state="draft"))
    for measure in engine.entities("measure", states=("planned", "open")):
        jobs += measure_jobs(measure)
    for kind in ("proposal", "application"):
        for entity in engine.entities(kind, states=("integration_requested",)):
            jobs += lapse_jobs(entity)
        for entity in engine.entities(kind, states=("rejection_notified",)):
            jobs += observation_jobs(entity)
    for project in engine.entities("project", states=("awarded", "substitution_pending", "in_progress")):
        jobs += forfeiture_jobs(project)
    return jobs
