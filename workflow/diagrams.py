"""Mermaid state diagrams, generated from the definitions in ``states/``.

Generated straight from the data rather than through transitions' GraphMachine:
the output is deterministic (a test compares ``docs/machines.md`` with it) and
the labels can carry what a reader needs, the roles allowed on each arrow.

Regenerate the docs with ``python -m workflow.diagrams > docs/machines.md``
(or ``filiere diagram --all``).
"""

from __future__ import annotations

from states import CREATE, DEFINITIONS, MachineDefinition

SELF = "="


def mermaid(definition: MachineDefinition) -> str:
    """The ``stateDiagram-v2`` of one machine: one line per arrow and source state."""
    lines = [
        "stateDiagram-v2",
        f"    [*] --> {definition.initial_state}: {CREATE} ({', '.join(definition.create_roles)})",
    ]
    for transition in definition.transitions:
        label = f"{transition.trigger} ({', '.join(transition.roles)})"
        for source in transition.source:
            dest = source if transition.dest == SELF else transition.dest
            lines.append(f"    {source} --> {dest}: {label}")
    lines.extend(f"    {final} --> [*]" for final in definition.finals)
    return "\n".join(lines)


def _table(definition: MachineDefinition) -> list[str]:
    rows = [
        "| trigger | from | to | roles | guards |",
        "| --- | --- | --- | --- | --- |",
        f"| `{CREATE}` | (none) | {definition.initial_state} | {', '.join(definition.create_roles)} "
        f"| {', '.join(definition.create_guards) or '-'} |",
    ]
    for t in definition.transitions:
        dest = "(same)" if t.dest == SELF else t.dest
        sources, roles, guards = ", ".join(t.source), ", ".join(t.roles), ", ".join(t.guards) or "-"
        rows.append(f"| `{t.trigger}` | {sources} | {dest} | {roles} | {guards} |")
    return rows


def machines_markdown() -> str:
    """The whole of ``docs/machines.md``: every machine's diagram and arrow table."""
    parts = [
        "# Machines",
        "",
        "Generated from `states/` by `python -m workflow.diagrams > docs/machines.md`; do not edit by hand",
        "(`tests/workflow/test_diagrams.py` fails when this file is out of date).",
        "",
        "Each arrow is labelled with its trigger and the roles that may fire it; `create` brings an",
        "entity into its initial state. The version is the hash recorded on every event fired under",
        "the definition.",
    ]
    for definition in DEFINITIONS.values():
        finals = ", ".join(definition.finals) or "none"
        parts += [
            "",
            f"## {definition.name.capitalize()}",
            "",
            definition.description,
            "",
            f"Definition version `{definition.version}`; final states: {finals}.",
            "",
            "```mermaid",
            mermaid(definition),
            "```",
            "",
            *_table(definition),
        ]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(machines_markdown(), end="")
