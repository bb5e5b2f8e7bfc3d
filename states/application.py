"""Application: a request for aid under one Phase-2 measure.

It may cite a proposal listed in Phase 1, which earns the measure's bonus and
moves that proposal listed → funded when the application is funded. Admitted
applications are funded in rank order (ranked measures) or protocol order
(first-come measures) while the budget lasts; those left without money are
admitted-not-funded and are funded later if money frees up (*scorrimento*).
A partial revocation leaves the application ``partially_revoked``, holding the
rest of its award; a total one, ``revoked``.
A first-come measure may require the *preavviso di rigetto* before a negative
decision, as a Phase-1 call does (``states.proposal.notice_arrows``).
"""

from __future__ import annotations

from states.definition import MachineDefinition, arrow
from states.proposal import NOTICE, notice_arrows

#: States in which an application holds an award (a partial revocation leaves the rest).
_HOLDING = ("funded", "partially_revoked")

APPLICATION = MachineDefinition(
    name="application",
    description="A Phase-2 application for aid under a measure.",
    states=(
        "draft",
        "submitted",
        "integration_requested",
        "admitted",
        *NOTICE,
        "rejected",
        "inadmissible",
        "admitted_not_funded",
        "funded",
        "partially_revoked",
        "renounced",
        "revoked",
        "withdrawn",
    ),
    initial=("draft",),
    finals=("rejected", "inadmissible", "renounced", "revoked", "withdrawn"),
    create_roles=("applicant", "operator"),
    create_guards=("measure_accepts_drafts",),
    transitions=(
        arrow(
            "submit",
            "draft",
            "submitted",
            "applicant",
            (
                "owner",
                "measure_open",
                "composition",
                "amounts",
                "one_project_per_partner",
                "cited_proposal",
                "required_documents",
                "stamp_duty",
                "project_dates",
            ),
        ),
        arrow(
            "request_integration",
            "submitted",
            "integration_requested",
            "operator",
            ("reason_given", "due_in_future"),
        ),
        arrow(
            "integrate",
            "integration_requested",
            "submitted",
            "applicant",
            ("owner", "before_integration_due"),
        ),
        arrow("lapse", "integration_requested", "inadmissible", "system", ("integration_due_passed",)),
        arrow(
            "evaluate",
            "submitted",
            "admitted",
            "evaluator",
            ("evaluator_independent", "scores_valid", "threshold_reached"),
        ),
        arrow(
            "evaluate",
            "submitted",
            "rejected",
            "evaluator",
            ("evaluator_independent", "scores_valid", "threshold_missed", "preavviso_not_required"),
        ),
        *notice_arrows(),
        arrow(
            "fund",
            ("admitted", "admitted_not_funded"),
            "funded",
            ("director", "system"),
            ("funding_order", "budget_left", "one_grant_per_company", "project_dates"),
        ),
        arrow("shelve", "admitted", "admitted_not_funded", ("director", "system"), ("no_budget_left",)),
        arrow("renounce", _HOLDING, "renounced", "applicant", ("owner",)),
        arrow("revoke", _HOLDING, "revoked", "director", ("revocation_within_award", "revocation_total")),
        arrow(
            "revoke",
            _HOLDING,
            "partially_revoked",
            "director",
            ("revocation_within_award", "revocation_partial"),
        ),
        arrow(
            "withdraw",
            ("draft", "submitted", "integration_requested", "admitted", "admitted_not_funded", *NOTICE),
            "withdrawn",
            "applicant",
            ("owner",),
        ),
    ),
)
