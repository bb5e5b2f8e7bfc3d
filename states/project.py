"""Project: the life of a funded application, from the award to the last euro.

A project is opened for a funded application (its id is the application's) when
the award is notified; the beneficiary accepts it within the measure's term, or
the scheduler proposes forfeiture (*decadenza*) and the director decides. Then
the advance (*anticipo*), the reports (*SAL* and final) with their spending
items admitted or cut, and the recomputation on the admitted spending: at or
above the measure's minimum share a pro-rata award and its balance (*saldo*),
below it a total revocation; what was paid too much is recovered with
statutory interest. A partner may leave (a substitute within a term, or
forfeiture), the project may change (*variante*), the beneficiary may renounce
at any stage. Every money movement is an event of the project, and every
revocation releases budget to the measure.
"""

from __future__ import annotations

from states.definition import MachineDefinition, arrow

#: States from which the beneficiary may renounce.
_LIVE = (
    "awarded",
    "in_progress",
    "substitution_pending",
    "variant_requested",
    "final_review",
    "forfeiture_proposed",
)

PROJECT = MachineDefinition(
    name="project",
    description="A funded project: acceptance, advance, reports, recomputation, balance or recovery.",
    states=(
        "awarded",
        "in_progress",
        "substitution_pending",
        "variant_requested",
        "final_review",
        "forfeiture_proposed",
        "balance_due",
        "recovering",
        "closed",
        "revoked",
        "renounced",
    ),
    initial=("awarded",),
    finals=("closed", "revoked", "renounced"),
    create_roles=("operator", "director", "system"),
    create_guards=("application_funded",),
    transitions=(
        arrow("accept", "awarded", "in_progress", "applicant", ("owner", "acceptance_in_time")),
        arrow(
            "propose_forfeiture",
            ("awarded", "substitution_pending", "in_progress"),
            "forfeiture_proposed",
            "system",
            ("term_passed",),
        ),
        arrow("forfeit", "forfeiture_proposed", "revoked", "director", ("nothing_paid",)),
        arrow("forfeit", "forfeiture_proposed", "recovering", "director", ("something_paid",)),
        *(
            arrow(
                "reinstate",
                "forfeiture_proposed",
                back,
                "director",
                (f"proposed_from_{back}", "new_term_ahead"),
            )
            for back in ("awarded", "substitution_pending", "in_progress")
        ),
        arrow("pay_advance", "in_progress", "=", "operator", ("advance_due", "guarantee_sufficient")),
        arrow("report", "in_progress", "=", "applicant", ("owner", "sal_allowed", "items_valid")),
        arrow("report", "in_progress", "final_review", "applicant", ("owner", "final_report", "items_valid")),
        arrow(
            "review", ("in_progress", "final_review"), "=", "operator", ("report_pending", "decisions_valid")
        ),
        arrow("leave", "in_progress", "=", "operator", ("partner_present", "composition_kept")),
        arrow(
            "leave",
            "in_progress",
            "substitution_pending",
            "operator",
            ("partner_present", "composition_broken"),
        ),
        arrow("substitute", "substitution_pending", "in_progress", "operator", ("substitution_in_time",)),
        arrow("request_variant", "in_progress", "variant_requested", "applicant", ("owner", "variant_valid")),
        arrow("approve_variant", "variant_requested", "in_progress", "operator"),
        arrow("reject_variant", "variant_requested", "in_progress", "operator"),
        arrow("recompute", "final_review", "balance_due", "operator", ("reviews_done", "outcome_balance")),
        arrow("recompute", "final_review", "recovering", "operator", ("reviews_done", "outcome_recovery")),
        arrow("recompute", "final_review", "revoked", "operator", ("reviews_done", "outcome_revoked")),
        arrow("pay_balance", "balance_due", "closed", "operator", ("payment_matches",)),
        arrow("repay", "recovering", "balance_due", "operator", ("repayment_matches", "loan_to_disburse")),
        arrow("repay", "recovering", "closed", "operator", ("repayment_matches", "no_loan_to_disburse")),
        arrow("renounce", _LIVE, "renounced", "applicant", ("owner", "nothing_paid")),
        arrow("renounce", _LIVE, "recovering", "applicant", ("owner", "something_paid")),
    ),
)
