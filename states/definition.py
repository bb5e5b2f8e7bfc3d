"""The shape of a machine definition: plain, frozen, typed data.

Why data and not code: the same definition drives the runtime engine, the
diagrams in ``docs/`` and (later) replay of old events, so it must be
comparable, hashable and printable. Nothing here imports the rest of the
project; validation against handlers happens in ``workflow``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

#: Every role known to the engine. ``auditor`` is read-only: no trigger lists it.
ROLES: frozenset[str] = frozenset({"applicant", "operator", "evaluator", "director", "system", "auditor"})

#: The pseudo-trigger that brings an entity into existence in its initial state.
CREATE = "create"


@dataclass(frozen=True, slots=True)
class Transition:
    """One arrow of a machine.

    Attributes:
        trigger: the name fired by callers; also the name of its handler.
        source: the states the arrow leaves from.
        dest: the state it reaches.
        roles: the roles allowed to fire it.
        guards: names of the guards that must all pass, in order.
    """

    trigger: str
    source: tuple[str, ...]
    dest: str
    roles: tuple[str, ...]
    guards: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MachineDefinition:
    """A whole machine: states, the initial and final ones, and its arrows.

    ``create_roles`` and ``create_guards`` describe the ``create`` pseudo-trigger,
    which has no source state: it records the entity's birth in ``initial``.
    """

    name: str
    states: tuple[str, ...]
    initial: tuple[str, ...]
    finals: tuple[str, ...]
    transitions: tuple[Transition, ...]
    create_roles: tuple[str, ...]
    create_guards: tuple[str, ...] = ()
    description: str = ""
    state_docs: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def initial_state(self) -> str:
        """The single initial state (validated to be exactly one)."""
        return self.initial[0]

    @property
    def triggers(self) -> tuple[str, ...]:
        """Trigger names in declaration order, without repeats, ``create`` first."""
        seen: dict[str, None] = {CREATE: None}
        for transition in self.transitions:
            seen.setdefault(transition.trigger, None)
        return tuple(seen)

    def content(self) -> dict[str, object]:
        """The definition as plain JSON-ready data (what its version hashes)."""
        return {
            "name": self.name,
            "states": list(self.states),
            "initial": list(self.initial),
            "finals": list(self.finals),
            "create": {"roles": list(self.create_roles), "guards": list(self.create_guards)},
            "transitions": [
                {
                    "trigger": t.trigger,
                    "source": list(t.source),
                    "dest": t.dest,
                    "roles": list(t.roles),
                    "guards": list(t.guards),
                }
                for t in self.transitions
            ],
        }

    @property
    def version(self) -> str:
        """A short content hash: events record it so replay can find these rules."""
        return content_version(self.content())


def content_version(content: Mapping[str, object]) -> str:
    """The version of a definition's content (see :meth:`MachineDefinition.content`).

    A function of the content alone, so that an auditor can check that the
    rules an export carries are the ones its events name.
    """
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def arrow(
    trigger: str,
    source: str | tuple[str, ...],
    dest: str,
    roles: str | tuple[str, ...],
    guards: tuple[str, ...] = (),
) -> Transition:
    """Build a :class:`Transition`, accepting a bare string for one source or role."""
    return Transition(
        trigger=trigger,
        source=(source,) if isinstance(source, str) else source,
        dest=dest,
        roles=(roles,) if isinstance(roles, str) else roles,
        guards=guards,
    )
