"""Acting from the console: one transition from an entity's page, or the same one on a filtered list.

Each form carries the session's CSRF token and an idempotency key generated
when the page was drawn, so a double click fires once: the engine answers the
second submission with the first event. A refusal is shown on the same page,
next to the field the engine names. A bulk action first shows a preview: how
many rows, and the dry run of each (the engine's verdict, nothing written);
only a second, confirmed submission fires, row by row, each in its own
transaction, and the page lists every row's outcome.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from handlers import MODULES
from states import DEFINITIONS
from workflow.errors import FiliereError, GuardRefused, InvalidInput
from workflow.http.console import filters
from workflow.http.console.forms import fields_of, payload_from
from workflow.http.console.pages import LISTED_KINDS, detail
from workflow.http.console.web import Page, redirect, require_form

router = APIRouter()
#: A bulk action touches at most this many rows at once (narrow the filter for more).
BULK_LIMIT = 500


def _fire(
    page: Page,
    kind: str,
    entity_id: str,
    trigger: str,
    form: dict[str, str],
    *,
    key: str | None,
    dry_run: bool = False,
) -> Any:
    model = MODULES[kind].PAYLOADS.get(trigger)
    if model is None:
        raise InvalidInput("trigger", f"{kind} has no trigger {trigger!r}")
    return page.engine.fire(
        kind,
        entity_id,
        trigger,
        actor=page.principal.actor,
        role=page.principal.role,
        payload=payload_from(model, form),
        idempotency_key=key,
        dry_run=dry_run,
    )


def _field_of(exc: FiliereError, trigger: str) -> str:
    """The form field a refusal is about: the engine's field, or the trigger's form as a whole."""
    field = getattr(exc, "field", None)
    if isinstance(exc, GuardRefused):
        field = (exc.data or {}).get("field") if isinstance(exc.data, dict) else None
        field = field or {"reason_given": "reason", "due_in_future": "due"}.get(exc.guard)
    return str(field or f"{trigger}:form")


@router.post("/entities/{kind}/{entity_id}/fire", response_class=HTMLResponse)
async def fire(request: Request, kind: str, entity_id: str) -> Response:
    """Fire the form's trigger; on refusal, the same page with the reason next to its field."""
    page, form = await require_form(request)
    trigger = form.get("trigger", "")
    if kind not in DEFINITIONS:
        return page.render("error.html", status=404, message="not found")
    key = form.get("idempotency_key") or None
    if key is not None and (not key.startswith("console:") or len(key) > 60):
        key = None
    try:
        _fire(page, kind, entity_id, trigger, form, key=key)
    except FiliereError as exc:
        errors = {_field_of(exc, trigger): str(exc)}
        return detail(page, kind, entity_id, errors=errors, form={**form, "trigger": trigger}, status=422)
    return redirect(f"/console/entities/{kind}/{entity_id}?done={trigger}")


@router.post("/bulk", response_class=HTMLResponse)
async def bulk(request: Request) -> Response:
    """The action's form, then a preview (the dry run of every row), then, once confirmed, each row fired."""
    page, form = await require_form(request)
    chosen = filters.Filters.from_query(form, LISTED_KINDS)
    trigger = form.get("trigger", "")
    definition = DEFINITIONS[chosen.kind]
    allowed = {t.trigger for t in definition.transitions if page.principal.role in t.roles}
    model = MODULES[chosen.kind].PAYLOADS.get(trigger)
    if trigger not in allowed or model is None:
        return page.render("error.html", status=400, message="no such action")
    rows = filters.select(page.engine, chosen)[:BULK_LIMIT]
    step = form.get("step", "form")
    confirmed = step == "confirm"
    results = []
    for row in rows if step in ("preview", "confirm") else ():
        try:
            event = _fire(page, chosen.kind, row.id, trigger, form, key=None, dry_run=not confirmed)
            results.append({"id": row.id, "ok": True, "to": event.to_state, "message": ""})
        except FiliereError as exc:
            results.append({"id": row.id, "ok": False, "to": "", "message": str(exc)})
    return page.render(
        "bulk.html",
        f=chosen,
        trigger=trigger,
        fields=fields_of(model),
        form=form,
        results=results,
        step=step,
        count=len(rows),
        would=sum(1 for r in results if r["ok"]),
    )
