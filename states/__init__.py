"""Machine definitions as declarative data: one module per kind of entity.

This package imports nothing of the project: ``workflow`` validates these
definitions against ``handlers`` when it loads them, builds one
``transitions.Machine`` per definition, and ``docs/machines.md`` is generated
from them.
"""

from __future__ import annotations

from states.application import APPLICATION
from states.call import CALL
from states.decree import DECREE
from states.definition import CREATE, ROLES, MachineDefinition, Transition, arrow
from states.evaluator import EVALUATOR
from states.measure import MEASURE
from states.partnership import PARTNERSHIP
from states.project import PROJECT
from states.proposal import PROPOSAL

#: Every machine the engine runs, by name.
DEFINITIONS: dict[str, MachineDefinition] = {
    d.name: d for d in (CALL, PARTNERSHIP, EVALUATOR, PROPOSAL, DECREE, MEASURE, APPLICATION, PROJECT)
}

__all__ = [
    "APPLICATION",
    "CALL",
    "CREATE",
    "DECREE",
    "DEFINITIONS",
    "EVALUATOR",
    "MEASURE",
    "PARTNERSHIP",
    "PROJECT",
    "PROPOSAL",
    "ROLES",
    "MachineDefinition",
    "Transition",
    "arrow",
]
