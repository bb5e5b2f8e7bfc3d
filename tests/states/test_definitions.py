"""Definitions are validated when loaded: each rule, broken once, is refused by name."""

from __future__ import annotations

import dataclasses
import types
from typing import Any

import pytest

import handlers.base
from handlers import MODULES
from handlers.base import Context, Outcome, Refusal
from handlers.payloads import Empty
from states import CREATE, DEFINITIONS, MachineDefinition, arrow
from workflow.errors import InvalidDefinition
from workflow.machine import build, load, validate

TOY = MachineDefinition(
    name="toy",
    description="A small machine for breaking rules.",
    states=("new", "done", "gone"),
    initial=("new",),
    finals=("done", "gone"),
    create_roles=("operator",),
    transitions=(
        arrow("finish", "new", "done", "operator", ("ready",)),
        arrow("drop", "new", "gone", ("operator", "applicant")),
    ),
)


def toy_module(
    *, handlers: tuple[str, ...] = (CREATE, "finish", "drop"), guards: tuple[str, ...] = ("ready",)
) -> types.ModuleType:
    """A handler module with real handler and guard functions for ``handlers`` and ``guards``."""
    module = types.ModuleType("toy_handlers")

    def make_handler(name: str) -> Any:
        def handler(ctx: Context) -> Outcome:
            return Outcome()

        handler.__name__ = name
        handler.__module__ = module.__name__
        handler.__annotations__ = {"ctx": "Context", "return": "Outcome"}
        return handler

    def make_guard(name: str) -> Any:
        def guard(ctx: Context) -> Refusal | None:
            return None

        guard.__module__ = module.__name__
        return guard

    for name in handlers:
        setattr(module, name, make_handler(name))
    for name in guards:
        setattr(module, f"guard_{name}", make_guard(name))
    module.PAYLOADS = dict.fromkeys(handlers, Empty)  # type: ignore[attr-defined]
    return module


def broken(**changes: Any) -> MachineDefinition:
    return dataclasses.replace(TOY, **changes)


def refused(definition: MachineDefinition, module: types.ModuleType | None = None) -> str:
    """Validate and return the refusal's message (fails the test if it validates)."""
    with pytest.raises(InvalidDefinition) as caught:
        validate(definition, module or toy_module())
    assert caught.value.machine == definition.name
    return str(caught.value)


class TestShippedDefinitions:
    def test_all_validate(self) -> None:
        """Every shipped machine validates against its handler module."""
        bound = load(DEFINITIONS, MODULES)
        assert set(bound) == {
            "call",
            "partnership",
            "evaluator",
            "proposal",
            "decree",
            "measure",
            "application",
            "project",
        }

    def test_toy_validates(self) -> None:
        """The toy machine used below is itself valid (so each break is the only fault)."""
        validate(TOY, toy_module())

    def test_no_auto_transitions(self) -> None:
        """Built machines have no ``to_<state>`` backdoor triggers."""
        machine = build(TOY, toy_module()).machine
        assert sorted(machine.events) == ["drop", "finish"]

    def test_triggers_list_create_first(self) -> None:
        """``triggers`` starts with ``create`` and keeps declaration order without repeats."""
        assert DEFINITIONS["proposal"].triggers[:3] == ("create", "submit", "request_integration")
        assert DEFINITIONS["proposal"].triggers.count("evaluate") == 1

    def test_missing_handler_module(self) -> None:
        """A definition without a handler module of its name is refused."""
        with pytest.raises(InvalidDefinition, match="no handler module"):
            load({"toy": TOY}, {})


class TestVersion:
    def test_stable_for_equal_content(self) -> None:
        """Equal content gives equal versions (the docs text does not count)."""
        assert broken(description="other words").version == TOY.version
        assert len(TOY.version) == 16

    def test_changes_with_content(self) -> None:
        """Any change to states, arrows, roles or guards changes the version."""
        versions = {
            TOY.version,
            broken(create_roles=("operator", "director")).version,
            broken(transitions=(arrow("finish", "new", "done", "operator"), TOY.transitions[1])).version,
            broken(
                transitions=(arrow("finish", "new", "done", "director", ("ready",)), TOY.transitions[1])
            ).version,
        }
        assert len(versions) == 4


class TestStructure:
    def test_two_initial_states(self) -> None:
        """Exactly one initial state: two are refused."""
        assert "exactly one initial state is required, found 2" in refused(broken(initial=("new", "done")))

    def test_no_initial_state(self) -> None:
        """Exactly one initial state: none is refused."""
        assert "found 0" in refused(broken(initial=()))

    def test_initial_not_a_state(self) -> None:
        """The initial state must be one of the states."""
        assert "'start' is not a state" in refused(broken(initial=("start",)))

    def test_final_not_a_state(self) -> None:
        """Final states must be states."""
        assert "'over' is not a state" in refused(broken(finals=("done", "gone", "over")))

    def test_duplicate_states(self) -> None:
        """A state listed twice is refused."""
        assert "listed twice" in refused(broken(states=("new", "done", "gone", "new")))

    def test_unknown_state_in_arrow(self) -> None:
        """Arrows may only name declared states."""
        bad = (arrow("finish", "new", "finished", "operator", ("ready",)), TOY.transitions[1])
        assert "finish: unknown state 'finished'" in refused(broken(transitions=bad))

    def test_leaving_a_final_state(self) -> None:
        """Nothing leaves a final state."""
        bad = (*TOY.transitions, arrow("revive", "gone", "new", "operator"))
        message = refused(broken(transitions=bad), toy_module(handlers=(CREATE, "finish", "drop", "revive")))
        assert "revive leaves final state 'gone'" in message

    def test_unreachable_state(self) -> None:
        """Every state must be reachable from the initial one."""
        definition = broken(states=("new", "done", "gone", "limbo"), finals=("done", "gone", "limbo"))
        assert "unreachable states: limbo" in refused(definition)

    def test_dead_end(self) -> None:
        """A non-final state with no way out is refused."""
        assert "'gone' is not final but nothing leads out of it" in refused(broken(finals=("done",)))

    def test_arrow_named_create(self) -> None:
        """``create`` is implicit and may not be declared as an arrow."""
        bad = (*TOY.transitions, arrow(CREATE, "new", "done", "operator"))
        assert "create is implicit" in refused(broken(transitions=bad))


class TestRoles:
    def test_unknown_role(self) -> None:
        """Roles must be known ones."""
        bad = (arrow("finish", "new", "done", "janitor", ("ready",)), TOY.transitions[1])
        assert "role 'janitor' may not fire triggers" in refused(broken(transitions=bad))

    def test_auditor_fires_nothing(self) -> None:
        """Auditors are read-only: no arrow may list them."""
        bad = (arrow("finish", "new", "done", "auditor", ("ready",)), TOY.transitions[1])
        assert "role 'auditor' may not fire triggers" in refused(broken(transitions=bad))

    def test_auditor_creates_nothing(self) -> None:
        """Auditors may not create entities either."""
        assert "create may not be fired by role 'auditor'" in refused(broken(create_roles=("auditor",)))

    def test_arrow_without_roles(self) -> None:
        """An arrow nobody may fire is refused."""
        bad = (arrow("finish", "new", "done", (), ("ready",)), TOY.transitions[1])
        assert "finish: no role may fire it" in refused(broken(transitions=bad))


class TestBindings:
    def test_trigger_without_handler(self) -> None:
        """Every trigger is bound to a handler function."""
        message = refused(TOY, toy_module(handlers=(CREATE, "finish")))
        assert "trigger 'drop' has no handler in toy_handlers" in message

    def test_create_without_handler(self) -> None:
        """``create`` needs a handler too."""
        assert "trigger 'create' has no handler" in refused(TOY, toy_module(handlers=("finish", "drop")))

    def test_handler_without_trigger(self) -> None:
        """Every handler is bound to a trigger."""
        message = refused(TOY, toy_module(handlers=(CREATE, "finish", "drop", "archive")))
        assert "handler toy_handlers.archive serves no trigger" in message

    def test_payloads_must_match(self) -> None:
        """PAYLOADS covers exactly the triggers."""
        module = toy_module()
        module.PAYLOADS = {CREATE: Empty, "finish": Empty}  # type: ignore[attr-defined]
        assert "PAYLOADS of toy_handlers must cover exactly the triggers" in refused(TOY, module)

    def test_guard_without_function(self) -> None:
        """Every guard named on an arrow has a ``guard_<name>`` function."""
        assert "guard 'ready' has no function guard_ready" in refused(TOY, toy_module(guards=()))

    def test_unused_guard_function(self) -> None:
        """A guard function no arrow uses is refused (a rule that never runs)."""
        assert "guard_stale in toy_handlers is used by no arrow" in refused(
            TOY, toy_module(guards=("ready", "stale"))
        )

    def test_helpers_are_not_handlers(self) -> None:
        """Functions with other signatures (helpers) are neither handlers nor errors."""
        module = toy_module()

        def helper(value: int) -> int:
            return value

        helper.__module__ = module.__name__
        module.helper = helper  # type: ignore[attr-defined]
        validate(TOY, module)
        assert handlers.base.Outcome is Outcome
