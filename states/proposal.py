"""Proposal: a partnership's Phase-1 project proposal, filed by its capofila.

Main line: draft → submitted → evaluated → listed → funded, with integration
requests (*soccorso istruttorio*), rejection, inadmissibility, withdrawal,
expiry at the deadline and funding through a Phase-2 application beside it.
"""

from __future__ import annotations

from states.definition import MachineDefinition, arrow

_WITHDRAWABLE = ("draft", "submitted", "integration_requested", "evaluated", "listed")

PROPOSAL = MachineDefinition(
    name="proposal",
    description="A partnership's Phase-1 project proposal under a call.",
    states=(
        "draft",
        "submitted",
        "integration_requested",
        "evaluated",
        "rejected",
        "inadmissible",
        "listed",
        "funded",
        "withdrawn",
        "expired",
    ),
    initial=("draft",),
    finals=("rejected", "inadmissible", "funded", "withdrawn", "expired"),
    create_roles=("applicant", "operator"),
    create_guards=("call_accepts_drafts", "partnership_exists"),
    transitions=(
        arrow(
            "submit",
            "draft",
            "submitted",
            "applicant",
            guards=(
                "owner",
                "call_open",
                "deadline_not_passed",
                "required_fields",
                "priority_area",
                "composition",
            ),
        ),
        arrow(
            "request_integration",
            "submitted",
            "integration_requested",
            "operator",
            guards=("reason_given", "due_in_future"),
        ),
        arrow(
            "integrate",
            "integration_requested",
            "submitted",
            "applicant",
            guards=("owner", "before_integration_due"),
        ),
        arrow("lapse", "integration_requested", "inadmissible", "system", ("integration_due_passed",)),
        arrow("declare_inadmissible", "submitted", "inadmissible", "operator", ("reason_given",)),
        arrow(
            "evaluate",
            "submitted",
            "evaluated",
            "evaluator",
            guards=("evaluator_independent", "scores_valid", "threshold_reached"),
        ),
        arrow(
            "evaluate",
            "submitted",
            "rejected",
            "evaluator",
            guards=("evaluator_independent", "scores_valid", "threshold_missed"),
        ),
        arrow("list", "evaluated", "listed", "director", ("in_approved_decree",)),
        arrow("fund", "listed", "funded", "system", ("application_funded",)),
        arrow("withdraw", _WITHDRAWABLE, "withdrawn", "applicant", ("owner",)),
        arrow("expire", "draft", "expired", "system", ("deadline_passed",)),
    ),
)
