"""Measure: a Phase-2 funding measure with its window and budget.

planned → open → closed (at the end of its window, or early when a first-come
measure's budget is exhausted) → archived. Every movement of the budget is an
event of the measure: ``reserve`` when an application is funded, ``release``
when one renounces or is revoked, ``raise_budget`` when an act adds money.
Fundings may still happen after the window closes (ranked lists are decided
then), so reservations and releases apply to open and closed measures alike.
"""

from __future__ import annotations

from states.definition import MachineDefinition, arrow

_LIVE = ("open", "closed")

MEASURE = MachineDefinition(
    name="measure",
    description="A Phase-2 measure (misura): window, budget, procedure and rules.",
    states=("planned", "open", "closed", "archived"),
    initial=("planned",),
    finals=("archived",),
    create_roles=("operator",),
    transitions=(
        arrow("open", "planned", "open", ("system", "operator"), ("window_opened",)),
        arrow("close", "open", "closed", ("system", "operator"), ("window_ended_or_exhausted",)),
        arrow("raise_budget", ("planned", *_LIVE), "=", "director"),
        arrow("reserve", _LIVE, "=", "system", ("funds_available",)),
        arrow("release", _LIVE, "=", "system", ("reservation_exists",)),
        arrow("archive", "closed", "archived", "operator", ("nothing_pending",)),
    ),
)
