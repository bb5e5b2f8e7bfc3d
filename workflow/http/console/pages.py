"""The console's pages for reading: calls, lists of proposals and applications, one entity, measures.

Everything here reads through the engine's public calls and writes nothing;
acting lives in ``acting.py``, the auditor's pages in ``audit_pages.py``.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from handlers import MODULES
from handlers.call import deadline_in_force
from handlers.measure import queue, remaining
from states import DEFINITIONS
from workflow.errors import FiliereError, NotFound
from workflow.http.console import filters, svg
from workflow.http.console.forms import fields_of
from workflow.http.console.i18n import Formatter, translations
from workflow.http.console.web import Page, page_context

router = APIRouter()
LISTED_KINDS = ("proposal", "application")


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    """The console opens on its calls."""
    return RedirectResponse("/console/calls", status_code=303)


@router.get("/calls", response_class=HTMLResponse)
def calls(request: Request) -> Response:
    """Every call: state, the deadline in force and its act, proposals by state, list versions."""
    page = page_context(request)
    engine, now = page.engine, page.engine.clock.now()
    rows = []
    for call in engine.entities("call"):
        deadline = deadline_in_force(call.data, now)
        due = datetime.fromisoformat(str(deadline["at"]).replace("Z", "+00:00"))
        decrees = sorted(
            (d for d in engine.find("decree", parent_id=call.id) if d.state == "approved"),
            key=lambda d: int(d.data.get("list_version", 0)),
        )
        rows.append(
            {
                "call": call,
                "deadline": due,
                "act": deadline.get("act", ""),
                "left": (due - now).total_seconds(),
                "counts": sorted(
                    Counter(p.state for p in engine.find("proposal", parent_id=call.id)).items()
                ),
                "decrees": decrees,
            }
        )
    measures = engine.entities("measure")
    return page.render("calls.html", calls=rows, measures=measures, now=now)


@router.get("/entities", response_class=HTMLResponse)
def entities(request: Request) -> Response:
    """A filterable, sortable, paged list of proposals or applications; ``format=csv`` exports it."""
    page = page_context(request)
    chosen = filters.Filters.from_query(request.query_params, LISTED_KINDS)
    rows = filters.select(page.engine, chosen)
    if request.query_params.get("format") == "csv":
        return _csv(page, chosen.kind, rows)
    shown, pages = filters.page(rows, chosen.page)
    parents = [c.id for c in page.engine.entities("call" if chosen.kind == "proposal" else "measure")]
    return page.render(
        "entities.html",
        f=chosen,
        rows=shown,
        total=len(rows),
        pages=pages,
        states=DEFINITIONS[chosen.kind].states,
        parents=parents,
        kinds=LISTED_KINDS,
        bulk_triggers=_bulk_triggers(page, chosen.kind),
    )


def _bulk_triggers(page: Page, kind: str) -> list[str]:
    if page.principal.read_only:
        return []
    definition = DEFINITIONS[kind]
    return list(dict.fromkeys(t.trigger for t in definition.transitions if page.principal.role in t.roles))


def _csv(page: Page, kind: str, rows: list[Any]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["id", "state", "version", "parent", "protocol", "submitted_at", "title"])
    fmt = Formatter(page.language)
    for e in rows:
        writer.writerow(
            [
                e.id,
                e.state,
                e.version,
                e.parent_id or "",
                e.data.get("protocol", ""),
                fmt.moment(e.data.get("submitted_at")),
                _cell(str(e.data.get("title", ""))),
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{kind}s.csv"'},
    )


def _cell(text: str) -> str:
    """A spreadsheet never runs a cell as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get("/entities/{kind}/{entity_id}", response_class=HTMLResponse)
def entity(request: Request, kind: str, entity_id: str) -> Response:
    """One entity: its diagram, timeline, receipt, partnership, the forms its reader may use."""
    page = page_context(request)
    return detail(page, kind, entity_id)


def detail(
    page: Page,
    kind: str,
    entity_id: str,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The entity page, optionally with a refused form's values and the refusal next to its field."""
    if kind not in DEFINITIONS or not entity_id.isprintable() or len(entity_id) > 300:
        return page.render("error.html", status=404, message="not found")
    try:
        current = page.engine.get(kind, entity_id)
    except NotFound:
        return page.render("error.html", status=404, message="not found")
    as_of_text = page.request.query_params.get("as_of", "")[:40]
    then = _as_of(page, kind, entity_id, as_of_text)
    definition = DEFINITIONS[kind]
    partnership = None
    if current.data.get("partnership_id"):
        try:
            partnership = page.engine.get("partnership", str(current.data["partnership_id"]))
        except FiliereError:
            partnership = None
    return page.render(
        "entity.html",
        status=status,
        entity=current,
        kind=kind,
        history=page.engine.history(kind, entity_id),
        diagram=svg.diagram(
            definition,
            current.state,
            label=f"{kind} {entity_id}: {current.state}",
            name=translations(page.language).gettext,
        ),
        actions=_actions(page, kind, current.state),
        partnership=partnership,
        as_of=as_of_text,
        then=then,
        errors=errors or {},
        form=form or {},
        key=f"console:{secrets.token_hex(12)}",
    )


def _actions(page: Page, kind: str, state: str) -> list[dict[str, Any]]:
    """The triggers the principal's role may fire from ``state``, each with its form's fields."""
    if page.principal.read_only:
        return []
    definition = DEFINITIONS[kind]
    found: dict[str, dict[str, Any]] = {}
    for t in definition.transitions:
        if state in t.source and page.principal.role in t.roles and t.trigger not in found:
            model = MODULES[kind].PAYLOADS.get(t.trigger)
            found[t.trigger] = {"trigger": t.trigger, "fields": fields_of(model) if model else []}
    return list(found.values())


def _as_of(page: Page, kind: str, entity_id: str, text: str) -> dict[str, Any] | None:
    """The entity's state as of a moment (``YYYY-MM-DD`` or a date-time, Europe/Rome)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:  # a local time, as people write it
            moment = moment.replace(tzinfo=filters.ROME)
        replayed = page.engine.as_of(moment)
    except (FiliereError, ValueError, OverflowError):
        return {"error": True}
    then = replayed.entities.get((kind, entity_id))
    return {"moment": moment, "state": then.state if then else None}


@router.get("/measures/{measure_id}", response_class=HTMLResponse)
def measure(request: Request, measure_id: str) -> Response:
    """A measure's budget (committed, asked by admitted applications, available) and its order."""
    page = page_context(request)
    try:
        found = page.engine.get("measure", measure_id)
    except (NotFound, FiliereError):
        return page.render("error.html", status=404, message="not found")
    applications = page.engine.find("application", parent_id=measure_id)
    budget = Decimal(str(found.data.get("budget", "0")))
    committed = Decimal(str(found.data.get("reserved", "0")))
    admitted = [a for a in applications if a.state == "admitted"]
    asked = sum((Decimal(str(a.data.get("aid", {}).get("base", "0"))) for a in admitted), Decimal(0))
    gettext, fmt = translations(page.language).gettext, Formatter(page.language)
    chart = svg.budget_bar(
        budget,
        committed,
        min(asked, max(budget - committed, Decimal(0))),
        labels={
            "committed": f"{gettext('Committed')}: {fmt.money(committed)}",
            "reserved": f"{gettext('Asked by admitted applications')}: {fmt.money(asked)}",
            "available": f"{gettext('Available')}: {fmt.money(remaining(found.data))}",
        },
    )
    return page.render(
        "measure.html",
        measure=found,
        chart=chart,
        order=queue(found, applications),
        applications=applications,
        committed=committed,
        asked=asked,
        available=remaining(found.data),
    )
