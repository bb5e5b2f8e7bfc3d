"""Pictures drawn on the server as SVG: a machine's diagram with the current state marked, a budget bar.

Server-side so that they need no script, print as they look, and carry a text
alternative for screen readers (WCAG 2.1 AA is required of Italian public
administrations).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from html import escape

from states import MachineDefinition

_W, _H, _GAP_X, _GAP_Y = 150, 34, 46, 18


def _depths(definition: MachineDefinition) -> dict[str, int]:
    """Each state's distance from the initial state (breadth first); unreachable ones last."""
    depth = {definition.initial_state: 0}
    frontier = [definition.initial_state]
    while frontier:
        nxt = []
        for state in frontier:
            for t in definition.transitions:
                if state in t.source and t.dest not in depth:
                    depth[t.dest] = depth[state] + 1
                    nxt.append(t.dest)
        frontier = nxt
    last = max(depth.values(), default=0) + 1
    return {s: depth.get(s, last) for s in definition.states}


def diagram(
    definition: MachineDefinition, current: str | None, *, label: str, name: Callable[[str], str] = str
) -> str:
    """The states in columns by distance from the start, arrows between them (``name`` translates)."""
    depths = _depths(definition)
    columns: dict[int, list[str]] = {}
    for state in definition.states:
        columns.setdefault(depths[state], []).append(state)
    place = {
        state: (10 + col * (_W + _GAP_X), 10 + row * (_H + _GAP_Y))
        for col, states in columns.items()
        for row, state in enumerate(states)
    }
    width = 20 + len(columns) * (_W + _GAP_X)
    height = 20 + max(len(s) for s in columns.values()) * (_H + _GAP_Y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" class="machine-diagram">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#5c6f82"/></marker></defs>',
    ]
    drawn: set[tuple[str, str]] = set()
    for t in definition.transitions:
        for source in t.source:
            if (source, t.dest) in drawn or source == t.dest:
                continue
            drawn.add((source, t.dest))
            (x1, y1), (x2, y2) = place[source], place[t.dest]
            start = (x1 + _W, y1 + _H / 2) if x2 > x1 else (x1, y1 + _H / 2)
            end = (x2, y2 + _H / 2) if x2 > x1 else (x2 + _W, y2 + _H / 2)
            parts.append(
                f'<line x1="{start[0]}" y1="{start[1]}" x2="{end[0]}" y2="{end[1]}" stroke="#5c6f82" '
                'stroke-width="1.2" marker-end="url(#arrow)"/>'
            )
    for state, (x, y) in place.items():
        here = state == current
        fill, ink = ("#0066cc", "#ffffff") if here else ("#ffffff", "#1a1a1a")
        parts.append(
            f'<g><rect x="{x}" y="{y}" width="{_W}" height="{_H}" rx="6" fill="{fill}" stroke="#0066cc" '
            f'stroke-width="{3 if here else 1.5}"/><text x="{x + _W / 2}" y="{y + _H / 2 + 5}" '
            f'text-anchor="middle" font-size="13" fill="{ink}">{escape(name(state))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def budget_bar(budget: Decimal, committed: Decimal, reserved: Decimal, *, labels: dict[str, str]) -> str:
    """One horizontal bar: committed, reserved and available shares of a measure's budget."""
    total = budget if budget > 0 else Decimal(1)
    available = max(budget - committed - reserved, Decimal(0))
    segments = [
        (committed, "#00805a", labels["committed"]),
        (reserved, "#cc7a00", labels["reserved"]),
        (available, "#cce0ff", labels["available"]),
    ]
    x = Decimal(0)
    rects = []
    for amount, color, name in segments:
        share = (amount / total * 600).quantize(Decimal("0.1"))
        rects.append(
            f'<rect x="{x}" y="0" width="{share}" height="28" fill="{color}">'
            f"<title>{escape(name)}</title></rect>"
        )
        x += share
    summary = "; ".join(f"{name}" for _, _, name in segments)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 28" role="img" '
        f'aria-label="{escape(summary)}" class="budget-bar">{"".join(rects)}</svg>'
    )
