"""Diagrams come from ``states/``; the committed docs must match them."""

from __future__ import annotations

from pathlib import Path

from states import DEFINITIONS, PROPOSAL
from workflow.diagrams import machines_markdown, mermaid

DOCS = Path(__file__).resolve().parents[2] / "docs" / "machines.md"


class TestDiagrams:
    def test_proposal_diagram(self) -> None:
        """The proposal diagram is Mermaid with every state, trigger, the start and the ends."""
        text = mermaid(PROPOSAL)
        assert text.startswith("stateDiagram-v2\n")
        for state in PROPOSAL.states:
            assert f" {state}" in text
        for trigger in PROPOSAL.triggers:
            assert f": {trigger} (" in text
        assert "[*] --> draft: create" in text
        assert "    expired --> [*]" in text

    def test_self_loops_stay_in_place(self) -> None:
        """A reflexive arrow (dest "=") is drawn from a state to itself."""
        assert "    open --> open: extend (director, operator)" in mermaid(DEFINITIONS["call"])

    def test_docs_are_current(self) -> None:
        """docs/machines.md is exactly what the definitions generate."""
        assert DOCS.read_text(encoding="utf-8") == machines_markdown(), (
            "docs/machines.md is out of date: run `python -m workflow.diagrams > docs/machines.md`"
        )
