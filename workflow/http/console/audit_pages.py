"""The auditor's pages: chain status, the export, the replay verdict, every action, the scheduler."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from workflow.audit.compare import compare
from workflow.audit.replay import replay
from workflow.audit.stored import canonical_events, stored_definitions
from workflow.audit.verify import verify_chain
from workflow.http.console.filters import ROME
from workflow.http.console.web import page_context

router = APIRouter()
ACTIVITY_PAGE = 50


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request) -> Response:
    """The chain's status and head; the replay verdict when asked (it reads the whole log)."""
    page = page_context(request)
    report = verify_chain(page.engine.db)
    verdict = None
    if request.query_params.get("replay") == "1":
        db = page.engine.db
        verdict = compare(db, replay(canonical_events(db), stored_definitions(db)))
    return page.render("audit.html", report=report, verdict=verdict)


@router.get("/audit/export")
def export(request: Request) -> Response:
    """The whole log as canonical JSON lines, the same bytes ``filiere audit export`` writes."""
    page = page_context(request)

    def lines() -> Iterator[bytes]:
        for event in canonical_events(page.engine.db):
            yield orjson.dumps(event, option=orjson.OPT_SORT_KEYS) + b"\n"

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="filiere-events.jsonl"'},
    )


def _day(text: str, end: bool) -> datetime | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return datetime.combine(day, time.max if end else time.min, ROME)


@router.get("/activity", response_class=HTMLResponse)
def activity(request: Request) -> Response:
    """Every action, newest first, filterable by actor, role, kind and date."""
    page = page_context(request)
    q = {k: str(request.query_params.get(k, ""))[:100] for k in ("actor", "role", "kind", "since", "until")}
    since, until = _day(q["since"], end=False), _day(q["until"], end=True)
    number = request.query_params.get("page", "1")
    number_int = int(number) if number.isdigit() and len(number) < 6 and int(number) > 0 else 1
    wanted = [
        e
        for e in page.engine.events()
        if (not q["actor"] or q["actor"].lower() in e.actor.lower())
        and (not q["role"] or e.role == q["role"])
        and (not q["kind"] or e.entity_kind == q["kind"])
        and (since is None or e.occurred_at >= since)
        and (until is None or e.occurred_at <= until)
    ]
    wanted.reverse()
    pages = max(1, -(-len(wanted) // ACTIVITY_PAGE))
    number_int = min(number_int, pages)
    shown = wanted[(number_int - 1) * ACTIVITY_PAGE : number_int * ACTIVITY_PAGE]
    return page.render(
        "activity.html", events=shown, q=q, page_number=number_int, pages=pages, total=len(wanted)
    )


@router.get("/scheduler", response_class=HTMLResponse)
def scheduler(request: Request) -> Response:
    """The jobs the database asks for now, and the last ones the scheduler fired."""
    page = page_context(request)
    from scheduler.leader import current_leader  # an interface reading another: derived, never stored
    from scheduler.plan import plan

    jobs = sorted(plan(page.engine), key=lambda j: j.run_at)
    fired = [e for e in page.engine.events() if e.actor == "system"][-20:]
    fired.reverse()
    return page.render("scheduler.html", jobs=jobs, fired=fired, leader=current_leader(page.engine))
