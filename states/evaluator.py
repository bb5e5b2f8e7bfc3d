"""Evaluator: a person who scores proposals, with the partners they are tied to.

The register of ties is what the ``evaluator_independent`` guard of a proposal
reads: an evaluator tied to any partner may not evaluate that proposal.
"""

from __future__ import annotations

from states.definition import MachineDefinition, arrow

EVALUATOR = MachineDefinition(
    name="evaluator",
    description="An evaluator and the partners (codice fiscale) they declare ties with.",
    states=("active", "retired"),
    initial=("active",),
    finals=("retired",),
    create_roles=("operator",),
    transitions=(
        arrow("declare_ties", "active", "=", ("evaluator", "operator"), ("self_or_operator",)),
        arrow("retire", "active", "retired", "operator"),
    ),
)
