"""Partnership: the companies and other partners behind a proposal.

Registered by its capofila (or an operator); amended while it is registered.
Composition rules are checked where they matter, when a proposal is submitted.
"""

from __future__ import annotations

from states.definition import MachineDefinition, arrow

PARTNERSHIP = MachineDefinition(
    name="partnership",
    description="A partnership (partenariato di filiera) and its partners.",
    states=("registered", "dissolved"),
    initial=("registered",),
    finals=("dissolved",),
    create_roles=("applicant", "operator"),
    create_guards=("members_valid",),
    transitions=(
        arrow("amend", "registered", "=", ("applicant", "operator"), ("owner", "members_valid")),
        arrow("dissolve", "registered", "dissolved", ("applicant", "operator"), ("owner",)),
    ),
)
