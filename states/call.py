"""Call: a Phase-1 call for proposals (the *manifestazione di interesse*).

Its deadline has versions, each set by an act (*proroga*); ``extend`` adds one.
Closing at the deadline in force ends submissions; every remaining draft then
expires, each by its own system event (the scheduler fires them right after).
An act adopted after the deadline reopens the call only if it says so
(``reopens``): ``extend`` then leads from ``closed`` back to ``open``. A call
is closed by the clock at its deadline; the ``close`` event records it.
"""

from __future__ import annotations

from states.definition import MachineDefinition, arrow

CALL = MachineDefinition(
    name="call",
    description="A Phase-1 call: scheduled until it opens, open until its deadline in force.",
    states=("scheduled", "open", "closed"),
    initial=("scheduled",),
    finals=(),
    create_roles=("operator",),
    transitions=(
        arrow("open", "scheduled", "open", ("system", "operator"), ("opening_reached",)),
        arrow(
            "extend",
            ("scheduled", "open"),
            "=",
            ("director", "operator"),
            ("deadline_not_passed", "extension_later"),
        ),
        arrow("close", "open", "closed", ("system", "operator"), ("deadline_passed",)),
        arrow(
            "extend",
            "closed",
            "open",
            ("director", "operator"),
            ("reopened_by_act", "extension_later"),
        ),
    ),
)
