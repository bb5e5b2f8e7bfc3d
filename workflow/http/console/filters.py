"""The filters of the console's lists: by business fields, not only by state.

Proposals and applications are matched on the fields people search by at the
region's help desk: state, call or measure, priority area, a partner's tax code
or name, the protocol number and the submission date range. Filtering happens
on the entities the engine returns; the partnership of each one is read once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from handlers.base import Snapshot
from workflow.engine import Engine

ROME = ZoneInfo("Europe/Rome")
SORTS = ("id", "state", "protocol", "submitted_at", "title")
PAGE_SIZE = 25


@dataclass(frozen=True, slots=True)
class Filters:
    """What a list is narrowed to; every field optional."""

    kind: str = "proposal"
    state: str = ""
    parent: str = ""
    area: str = ""
    partner: str = ""
    protocol: str = ""
    since: str = ""
    until: str = ""
    sort: str = "id"
    page: int = 1

    @classmethod
    def from_query(cls, query: Mapping[str, str], kinds: Iterable[str]) -> Filters:
        """Read the query string, keeping only sane values (anything else is ignored)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = str(query.get(f.name, "")).strip()[:100]
            if raw and raw.isprintable():
                values[f.name] = raw
        if values.get("kind") not in set(kinds):
            values["kind"] = "proposal"
        if values.get("sort") not in SORTS:
            values["sort"] = "id"
        page = str(values.get("page", "1"))
        values["page"] = int(page) if page.isdigit() and 0 < len(page) < 6 and int(page) > 0 else 1
        for name in ("since", "until"):
            if name in values and _day(values[name]) is None:
                del values[name]
        return cls(**values)

    def query(self, **changes: Any) -> dict[str, str]:
        """These filters as query parameters (for links to other pages or sorts)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)} | changes
        return {k: str(v) for k, v in values.items() if v not in ("", None)}


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _partner_index(engine: Engine) -> dict[str, list[Mapping[str, Any]]]:
    return {p.id: list(p.data.get("partners", [])) for p in engine.entities("partnership")}


def _partners(entity: Snapshot, index: Mapping[str, list[Mapping[str, Any]]]) -> list[Mapping[str, Any]]:
    listed = entity.data.get("partners")
    if isinstance(listed, list):
        return listed
    return index.get(str(entity.data.get("partnership_id", "")), [])


def _submitted(entity: Snapshot) -> datetime | None:
    raw = entity.data.get("submitted_at")
    return datetime.fromisoformat(str(raw).replace("Z", "+00:00")) if raw else None


def matches(entity: Snapshot, f: Filters, index: Mapping[str, list[Mapping[str, Any]]]) -> bool:
    """Whether ``entity`` passes every filter that is set."""
    data = entity.data
    checks = (
        not f.state or entity.state == f.state,
        not f.parent or entity.parent_id == f.parent,
        not f.area or f.area in data.get("areas", []),
        not f.protocol or f.protocol.lower() in str(data.get("protocol", "")).lower(),
    )
    if not all(checks):
        return False
    if f.partner:
        needle = f.partner.lower()
        if not any(
            needle in str(p.get("tax_code", "")).lower() or needle in str(p.get("name", "")).lower()
            for p in _partners(entity, index)
        ):
            return False
    submitted = _submitted(entity)
    since, until = _day(f.since), _day(f.until)
    if since and (submitted is None or submitted < datetime.combine(since, time(), ROME)):
        return False
    return not (until and (submitted is None or submitted >= datetime.combine(until, time.max, ROME)))


def select(engine: Engine, f: Filters) -> list[Snapshot]:
    """Every entity of ``f.kind`` that matches, sorted as asked (not yet paged)."""
    index = _partner_index(engine) if f.partner else {}
    found = [e for e in engine.entities(f.kind) if matches(e, f, index)]

    def key(e: Snapshot) -> tuple[str, str]:
        if f.sort in ("id", "state"):
            return (str(getattr(e, f.sort)), e.id)
        return (str(e.data.get(f.sort) or ""), e.id)

    return sorted(found, key=key)


def page(rows: list[Snapshot], number: int) -> tuple[list[Snapshot], int]:
    """One page of ``rows`` and the number of pages."""
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    number = min(number, pages)
    return rows[(number - 1) * PAGE_SIZE : number * PAGE_SIZE], pages
