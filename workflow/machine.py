"""Definitions checked against their handlers, and one Machine built per definition.

Checked when loaded, so a broken definition stops the engine at start rather
than misbehaving at 16:00 on a deadline day: exactly one initial state, every
state reachable, no dead ends, nothing leaving a final state, only known roles,
every trigger with a handler and a payload model, every handler and guard used.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from transitions import EventData, Machine

from handlers.base import Context, Refusal
from states import CREATE, ROLES, MachineDefinition, Transition
from workflow.errors import InvalidDefinition

# transitions logs every callback at INFO: ~8x slower triggers (LIBRARIES.md 1.6).
logging.getLogger("transitions").setLevel(logging.WARNING)

SELF = "="  # a reflexive arrow: the entity stays in its state


@dataclass(frozen=True, slots=True)
class Bound:
    """A definition with its handler module and its one shared Machine."""

    definition: MachineDefinition
    module: ModuleType
    machine: Machine
    guards: Mapping[str, Callable[[Context], Refusal | None]]
    #: ``definition.version``, computed once: hashing the definition costs ~40 µs a fire.
    version: str = ""

    def arrows(self, trigger: str, state: str) -> tuple[Transition, ...]:
        """The arrows of ``trigger`` that leave ``state``."""
        return tuple(t for t in self.definition.transitions if t.trigger == trigger and state in t.source)

    def roles(self, trigger: str) -> tuple[str, ...]:
        """Every role that may fire ``trigger`` from some state (all, for unknown triggers)."""
        if trigger == CREATE:
            return self.definition.create_roles
        arrows = [t for t in self.definition.transitions if t.trigger == trigger]
        if not arrows:
            return tuple(sorted(ROLES))
        return tuple(dict.fromkeys(r for t in arrows for r in t.roles))

    def triggers_from(self, state: str) -> tuple[str, ...]:
        """Triggers that leave ``state``, in declaration order."""
        return tuple(dict.fromkeys(t.trigger for t in self.definition.transitions if state in t.source))


class Token:
    """The scratch model a trigger runs on: only a state, nothing else to leak."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def validate(definition: MachineDefinition, module: ModuleType) -> None:
    """Check ``definition`` on its own and against ``module``.

    Raises:
        InvalidDefinition: naming the machine and the first rule broken.
    """
    _check_structure(definition)
    _check_reachability(definition)
    _check_bindings(definition, module)


def _fail(definition: MachineDefinition, reason: str) -> InvalidDefinition:
    return InvalidDefinition(definition.name, reason)


def _check_structure(d: MachineDefinition) -> None:
    if len(set(d.states)) != len(d.states):
        raise _fail(d, "states are listed twice")
    if len(d.initial) != 1:
        raise _fail(d, f"exactly one initial state is required, found {len(d.initial)}")
    known = set(d.states)
    for name in (*d.initial, *d.finals):
        if name not in known:
            raise _fail(d, f"initial or final state {name!r} is not a state")
    for role in d.create_roles:
        if role not in ROLES or role == "auditor":
            raise _fail(d, f"create may not be fired by role {role!r}")
    _check_arrows(d)


def _check_arrows(d: MachineDefinition) -> None:
    known = set(d.states)
    for t in d.transitions:
        if t.trigger == CREATE:
            raise _fail(d, "create is implicit: it may not be an arrow")
        for name in (*t.source, t.dest):
            if name != SELF and name not in known:
                raise _fail(d, f"{t.trigger}: unknown state {name!r}")
        if not t.roles:
            raise _fail(d, f"{t.trigger}: no role may fire it")
        for role in t.roles:
            if role not in ROLES or role == "auditor":
                raise _fail(d, f"{t.trigger}: role {role!r} may not fire triggers")
        leaving = set(t.source) & set(d.finals)
        if leaving:
            raise _fail(d, f"{t.trigger} leaves final state {sorted(leaving)[0]!r}")


def _check_reachability(d: MachineDefinition) -> None:
    reached = {d.initial_state}
    frontier = [d.initial_state]
    while frontier:
        state = frontier.pop()
        for t in d.transitions:
            if state in t.source and t.dest != SELF and t.dest not in reached:
                reached.add(t.dest)
                frontier.append(t.dest)
    unreachable = [s for s in d.states if s not in reached]
    if unreachable:
        raise _fail(d, f"unreachable states: {', '.join(unreachable)}")
    for state in d.states:
        if state in d.finals:
            continue
        if not any(state in t.source and t.dest not in (SELF, state) for t in d.transitions):
            raise _fail(d, f"state {state!r} is not final but nothing leads out of it")


def _is_handler(obj: Any, module: ModuleType) -> bool:
    if not inspect.isfunction(obj) or obj.__module__ != module.__name__ or obj.__name__.startswith("_"):
        return False
    annotations = obj.__annotations__
    return str(annotations.get("return")) in ("Outcome", "handlers.base.Outcome") and len(annotations) == 2


def _check_bindings(d: MachineDefinition, module: ModuleType) -> None:
    triggers = set(d.triggers)
    handlers = {name for name, obj in vars(module).items() if _is_handler(obj, module)}
    for trigger in sorted(triggers - handlers):
        raise _fail(d, f"trigger {trigger!r} has no handler in {module.__name__}")
    for handler in sorted(handlers - triggers):
        raise _fail(d, f"handler {module.__name__}.{handler} serves no trigger")
    payloads = set(getattr(module, "PAYLOADS", {}))
    if payloads != triggers:
        raise _fail(d, f"PAYLOADS of {module.__name__} must cover exactly the triggers {sorted(triggers)}")
    named = set(d.create_guards) | {g for t in d.transitions for g in t.guards}
    defined = {name.removeprefix("guard_") for name in vars(module) if name.startswith("guard_")}
    for guard in sorted(named - defined):
        raise _fail(d, f"guard {guard!r} has no function guard_{guard} in {module.__name__}")
    for guard in sorted(defined - named):
        raise _fail(d, f"guard function guard_{guard} in {module.__name__} is used by no arrow")


def _condition(name: str, guard: Callable[[Context], Refusal | None]) -> Callable[[EventData], bool]:
    """Wrap a guard as a transitions condition that records why it refused."""

    def check(event: EventData) -> bool:
        refusal = guard(event.kwargs["ctx"])
        if refusal is not None:
            event.kwargs["refusals"].append(refusal)
        return refusal is None

    check.__name__ = f"guard_{name}"
    return check


def build(definition: MachineDefinition, module: ModuleType) -> Bound:
    """Validate ``definition`` and build its single shared Machine."""
    validate(definition, module)
    guards = {
        name: getattr(module, f"guard_{name}")
        for name in {*definition.create_guards, *(g for t in definition.transitions for g in t.guards)}
    }
    machine = Machine(
        model=None,
        states=list(definition.states),
        initial=None,
        auto_transitions=False,
        send_event=True,
        transitions=[
            {
                "trigger": t.trigger,
                "source": list(t.source),
                "dest": t.dest,
                "conditions": [_condition(g, guards[g]) for g in t.guards],
            }
            for t in definition.transitions
        ],
    )
    return Bound(
        definition=definition, module=module, machine=machine, guards=guards, version=definition.version
    )


def load(definitions: Mapping[str, MachineDefinition], modules: Mapping[str, ModuleType]) -> dict[str, Bound]:
    """Bind every definition to the handler module of the same name."""
    missing = sorted(set(definitions) - set(modules))
    if missing:
        raise InvalidDefinition(missing[0], "no handler module")
    return {name: build(definition, modules[name]) for name, definition in definitions.items()}
