"""Call: a Phase-1 call for proposals (the *manifestazione di interesse*).

Its deadline has versions, each set by an act (*proroga*); ``extend`` adds one.
Closing at the deadline in force ends submissions; every remaining draft then
expires, each by its own system event (the scheduler fires them right after).
"""

from __future__ import annotations

from states.definition import MachineDefinition, arrow

CALL = MachineDefinition(
    name="call",
    description="A Phase-1 call: scheduled until it opens, open until its deadline in force.",
    states=("scheduled", "open", "closed"),
    initial=("scheduled",),
    finals=("closed",),
    create_roles=("operator",),
    transitions=(
        arrow("open", "scheduled", "open", ("system", "operator"), ("opening_reached",)),
        arrow(
            "extend",
            ("scheduled", "open"),
            "=",
            ("director", "operator"),
            ("extension_later",),
        ),
        arrow("close", "open", "closed", ("system", "operator"), ("deadline_passed",)),
    ),
)
