"""Decree: the director's act that approves the next version of the list.

Immutable once approved; every approved decree is a list version, and every
version stays queryable after later ones.
"""

from __future__ import annotations

from states.definition import MachineDefinition, arrow

DECREE = MachineDefinition(
    name="decree",
    description="A director's decree approving the next version of the list (elenco).",
    states=("draft", "approved"),
    initial=("draft",),
    finals=("approved",),
    create_roles=("director", "operator"),
    create_guards=("call_exists",),
    transitions=(
        arrow("amend", "draft", "=", ("director", "operator"), ("proposals_evaluated",)),
        arrow("approve", "draft", "approved", "director", ("proposals_evaluated",)),
    ),
)
