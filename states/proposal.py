"""Proposal: a partnership's Phase-1 project proposal, filed by its capofila.

Main line: draft → submitted → evaluated → listed → funded, with integration
requests (*soccorso istruttorio*), rejection, inadmissibility, withdrawal,
expiry at the deadline and funding through a Phase-2 application beside it.
Where the call requires it, a negative evaluation is not yet a rejection: the
operator sends a *preavviso di rigetto* (L. 241/1990 art. 10-bis), the applicant
may file observations within the window, and only then is the proposal
rejected (saying why the observations were not accepted) or reconsidered.
"""

from __future__ import annotations

from states.definition import MachineDefinition, Transition, arrow

#: The preavviso di rigetto (L. 241/1990 art. 10-bis), where the call or measure requires it.
NOTICE = ("rejection_pending", "rejection_notified", "observations_filed", "observations_lapsed")
_WITHDRAWABLE = ("draft", "submitted", "integration_requested", "evaluated", "listed", *NOTICE)


def notice_arrows() -> tuple[Transition, ...]:
    """A negative evaluation, the notice, the observations or their lapse, and the decision."""
    return (
        arrow(
            "evaluate",
            "submitted",
            "rejection_pending",
            "evaluator",
            guards=("evaluator_independent", "scores_valid", "threshold_missed", "preavviso_required"),
        ),
        arrow("notify_rejection", "rejection_pending", "rejection_notified", "operator", ("reason_given",)),
        arrow(
            "observe",
            "rejection_notified",
            "observations_filed",
            "applicant",
            ("owner", "before_observations_due"),
        ),
        arrow(
            "close_observations",
            "rejection_notified",
            "observations_lapsed",
            "system",
            ("observations_due_passed",),
        ),
        arrow(
            "reject",
            ("observations_filed", "observations_lapsed"),
            "rejected",
            ("operator", "director"),
            ("reason_given", "observations_answered"),
        ),
        arrow("reconsider", "observations_filed", "submitted", "operator", ("reason_given",)),
    )


PROPOSAL = MachineDefinition(
    name="proposal",
    description="A partnership's Phase-1 project proposal under a call.",
    states=(
        "draft",
        "submitted",
        "integration_requested",
        "evaluated",
        *NOTICE,
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
            guards=("evaluator_independent", "scores_valid", "threshold_missed", "preavviso_not_required"),
        ),
        *notice_arrows(),
        arrow("list", "evaluated", "listed", "director", ("in_approved_decree",)),
        arrow("fund", "listed", "funded", "system", ("application_funded",)),
        arrow("withdraw", _WITHDRAWABLE, "withdrawn", "applicant", ("owner",)),
        arrow("expire", "draft", "expired", "system", ("deadline_passed",)),
    ),
)
