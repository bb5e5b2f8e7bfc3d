"""Handlers of the Project machine: the funded application's life until the last euro.

The project is opened, as ``system``, an operator or the director, for an
application that is funded; its id is the application's (one project per award),
and the measure's reservation for that application is what its revocations
release. Terms are instants stored in UTC; payments and repayments are dated by
the calendar day the money moved. Money figures come from
:mod:`handlers.projectledger` and :mod:`handlers.settlement`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from handlers.aid import compute
from handlers.base import Context, FollowUp, Outcome, Refusal, Snapshot
from handlers.composition import measure_composition
from handlers.money import ZERO, cents, euro, text
from handlers.partnership import guard_owner as _owner
from handlers.projectconfig import rules_of
from handlers.projectledger import (
    d,
    entitlement,
    ledger,
    paid_by_partner,
    recomputation,
    share_award,
)
from handlers.projectpayloads import PAYLOADS
from handlers.settlement import MissingRate, add_months, interest, interest_parts, loan_plan, split
from handlers.timeutil import ROME, for_people, from_json, local_to_utc, to_json

__all__ = ["PAYLOADS"]


def _measure(ctx: Context) -> Snapshot:
    measure = ctx.reader.get("measure", ctx.data["measure_id"])
    if measure is None:  # pragma: no cover - a project is opened under an existing measure
        raise LookupError("measure vanished")
    return measure


def _rules(ctx: Context) -> dict[str, Any]:
    return rules_of(_measure(ctx).data)


def _today(ctx: Context) -> date:
    return ctx.now.astimezone(ROME).date()


def _end_of(day: date) -> datetime:
    """The last second of a Rome calendar day, as an aware instant."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=ROME)


def _release(ctx: Context, amount: Decimal) -> tuple[FollowUp, ...]:
    """Give ``amount`` back to the measure (and so to the next in line); nothing for zero."""
    if amount <= 0:
        return ()
    payload = {"application_id": ctx.entity_id, "amount": text(amount)}
    return (FollowUp("measure", ctx.data["measure_id"], "release", payload),)


def _paid(data: Mapping[str, Any]) -> Decimal:
    return sum(paid_by_partner(data).values(), ZERO)


def _book(data: Mapping[str, Any], state: str, **changes: Any) -> dict[str, Any]:
    """``changes`` plus the ledger recomputed over them."""
    merged = {**data, **changes}
    return {**changes, "ledger": ledger(merged, entitlement(merged, state))}


# --- guards -----------------------------------------------------------------


def guard_application_funded(ctx: Context) -> Refusal | None:
    """A project is opened for a funded application, under its own id."""
    application = ctx.reader.get("application", ctx.payload["application_id"])
    if application is None or application.state != "funded":
        state = application.state if application else "unknown"
        return Refusal(
            "application_funded", f"application {ctx.payload['application_id']} is {state}, not funded", {}
        )
    if ctx.entity_id != application.id:
        return Refusal("application_funded", f"the project of {application.id} is named {application.id}", {})
    return None


def guard_owner(ctx: Context) -> Refusal | None:
    """Only the beneficiary's account (the application's owner) acts for it."""
    return _owner(ctx)


def guard_acceptance_in_time(ctx: Context) -> Refusal | None:
    """The award is accepted within the measure's term."""
    due = from_json(ctx.data["acceptance_due"])
    if ctx.now <= due:
        return None
    return Refusal(
        "acceptance_in_time", f"the acceptance was due by {for_people(due)}", {"due": to_json(due)}
    )


def _term(ctx: Context) -> tuple[str, str | None]:
    state = ctx.entity.state if ctx.entity else ""
    if state == "awarded":
        return "acceptance", ctx.data["acceptance_due"]
    if state == "substitution_pending":
        return "substitution", ctx.data["substitution"]["due"]
    return "final report", ctx.data.get("final_report_due")


def guard_term_passed(ctx: Context) -> Refusal | None:
    """Forfeiture is proposed only once the term in course has passed."""
    term, due = _term(ctx)
    if due is not None and ctx.now > from_json(due):
        return None
    when = for_people(from_json(due)) if due else "no date"
    return Refusal("term_passed", f"the {term} term runs until {when}", {"due": due})


def guard_nothing_paid(ctx: Context) -> Refusal | None:
    """Nothing was paid: the revocation ends the project."""
    paid = _paid(ctx.data)
    return None if paid == 0 else Refusal("nothing_paid", f"{euro(paid)} was paid and must be recovered", {})


def guard_something_paid(ctx: Context) -> Refusal | None:
    """Money was paid: the revocation opens its recovery."""
    return None if _paid(ctx.data) > 0 else Refusal("something_paid", "nothing was paid", {})


def _proposed_from(state: str) -> Any:
    def guard(ctx: Context) -> Refusal | None:
        found = ctx.data["forfeiture"]["from"]
        return None if found == state else Refusal(f"proposed_from_{state}", f"proposed from {found}", {})

    guard.__doc__ = f"The forfeiture was proposed while the project was {state}: it goes back there."
    return guard


guard_proposed_from_awarded = _proposed_from("awarded")
guard_proposed_from_substitution_pending = _proposed_from("substitution_pending")
guard_proposed_from_in_progress = _proposed_from("in_progress")


def guard_new_term_ahead(ctx: Context) -> Refusal | None:
    """Not forfeiting extends the term in course: the new term lies ahead."""
    due = local_to_utc(ctx.payload["due"])
    return None if due > ctx.now else Refusal("new_term_ahead", f"{for_people(due)} has passed", {})


def _advance_amount(ctx: Context) -> Decimal:
    return cents(d(ctx.data["award"]["grant"]) * d(_rules(ctx)["advance_share"]))


def guard_advance_due(ctx: Context) -> Refusal | None:
    """One advance, of the measure's share of the grant, dated between acceptance and today."""
    due = _advance_amount(ctx)
    paid_on = date.fromisoformat(ctx.payload["paid_on"])
    problem = (
        "the measure gives no advance"
        if due == 0
        else "the advance was already paid"
        if ctx.data.get("advance")
        else f"the advance is {euro(due)}, not {euro(ctx.payload['amount'])}"
        if d(ctx.payload["amount"]) != due
        else None
    )
    problem = problem or _date_problem(ctx, paid_on)
    return Refusal("advance_due", problem, {"due": text(due)}) if problem else None


def _date_problem(ctx: Context, day: date) -> str | None:
    accepted = from_json(ctx.data["accepted_at"]).astimezone(ROME).date()
    if day > _today(ctx):
        return f"{day.isoformat()} is in the future"
    if day < accepted:
        return f"{day.isoformat()} is before the acceptance ({accepted.isoformat()})"
    return None


def guard_guarantee_sufficient(ctx: Context) -> Refusal | None:
    """Where the measure asks for it, a guarantee covers its share of the advance."""
    rules = _rules(ctx)
    needed = cents(d(ctx.payload["amount"]) * d(rules["guarantee_share"]))
    given = ctx.payload.get("guarantee")
    if not rules["guarantee_required"] or (given and d(given["amount"]) >= needed):
        return None
    shown = euro(given["amount"]) if given else "none"
    return Refusal("guarantee_sufficient", f"a guarantee of {euro(needed)} is required ({shown} given)", {})


def _pending_report(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((r for r in data.get("reports", []) if not r.get("reviewed")), None)


def guard_sal_allowed(ctx: Context) -> Refusal | None:
    """An intermediate report, while fewer than the measure's SALs were filed and none awaits review."""
    if ctx.payload["kind"] != "sal":  # the final report's arrow follows: say what it would refuse
        return _final_refusal(ctx) or Refusal("sal_allowed", "this is the final report", {})
    sals = sum(1 for r in ctx.data.get("reports", []) if r["kind"] == "sal")
    problem = (
        "a report awaits review"
        if _pending_report(ctx.data)
        else f"{sals} intermediate reports filed, at most {_rules(ctx)['sal_max']}"
        if sals >= _rules(ctx)["sal_max"]
        else None
    )
    return Refusal("sal_allowed", problem, {}) if problem else None


def guard_final_report(ctx: Context) -> Refusal | None:
    """The final report, by its term, once every earlier report was reviewed."""
    if ctx.payload["kind"] != "final":
        return Refusal("final_report", "this is an intermediate report", {})
    return _final_refusal(ctx)


def _final_refusal(ctx: Context) -> Refusal | None:
    due = from_json(ctx.data["final_report_due"])
    problem = (
        "a report awaits review"
        if _pending_report(ctx.data)
        else f"the final report was due by {for_people(due)}"
        if ctx.now > due
        else None
    )
    return Refusal("final_report", problem, {}) if problem else None


def _active(data: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {p["tax_code"]: p for p in data["partners"] if p["status"] == "active"}


def guard_items_valid(ctx: Context) -> Refusal | None:
    """Every item is spent by a partner of the project."""
    partners = _active(ctx.data)
    for index, item in enumerate(ctx.payload["items"]):
        if item["partner"] not in partners:
            return Refusal("items_valid", f"item {index + 1}: {item['partner']} is not a partner", {})
    return None


def guard_report_pending(ctx: Context) -> Refusal | None:
    """The report reviewed is the one awaiting review."""
    pending = _pending_report(ctx.data)
    if pending is not None and pending["n"] == ctx.payload["report"]:
        return None
    awaiting = f"report {pending['n']} awaits review" if pending else "no report awaits review"
    return Refusal("report_pending", f"cannot review report {ctx.payload['report']}: {awaiting}", {})


def guard_decisions_valid(ctx: Context) -> Refusal | None:
    """Each item decided once, admitted at most as reported, a reason for every cut."""
    items = {i["id"]: i for i in (_pending_report(ctx.data) or {"items": []})["items"]}
    decided = {x["item"]: x for x in ctx.payload["decisions"]}
    missing = sorted(set(items) - set(decided))
    unknown = sorted(set(decided) - set(items))
    problem = f"items not decided: {', '.join(missing)}" if missing else None
    problem = problem or (f"no such items: {', '.join(unknown)}" if unknown else None)
    for code, x in decided.items():
        if problem is None and d(x["admitted"]) > d(items[code]["amount"]):
            problem = f"item {code}: {euro(x['admitted'])} admitted of {euro(items[code]['amount'])} reported"
        if problem is None and d(x["admitted"]) < d(items[code]["amount"]) and not x.get("reason"):
            problem = f"item {code} is cut: say why"
    return Refusal("decisions_valid", problem, {}) if problem else None


def guard_partner_present(ctx: Context) -> Refusal | None:
    """The partner leaving is an active partner, not the capofila."""
    partner = _active(ctx.data).get(ctx.payload["partner"])
    if partner is None:
        return Refusal("partner_present", f"{ctx.payload['partner']} is not an active partner", {})
    if partner.get("capofila"):
        return Refusal("partner_present", "the capofila cannot leave: the beneficiary renounces instead", {})
    return None


def _composition_problem(rules: Mapping[str, Any], partners: list[Any]) -> str | None:
    """What breaks the measure's composition (handlers.composition names each culprit), or None."""
    refusal = measure_composition(rules, partners)
    return None if refusal is None else refusal.reason


def _without(ctx: Context) -> str | None:
    rest = [p for code, p in _active(ctx.data).items() if code != ctx.payload["partner"]]
    return _composition_problem(_measure(ctx).data["composition"], rest)


def guard_composition_kept(ctx: Context) -> Refusal | None:
    """The partnership still meets the measure's composition without the partner."""
    problem = _without(ctx)
    return Refusal("composition_kept", problem, {}) if problem else None


def guard_composition_broken(ctx: Context) -> Refusal | None:
    """Without the partner the partnership breaks the composition: a substitute is needed."""
    return None if _without(ctx) else Refusal("composition_broken", "the composition holds", {})


def guard_substitution_in_time(ctx: Context) -> Refusal | None:
    """The substitute is approved within the term, is new to the project, and restores the composition."""
    due = from_json(ctx.data["substitution"]["due"])
    newcomer = ctx.payload["partner"]
    rest = [*_active(ctx.data).values(), {**newcomer, "capofila": False, "main": "0", "experimental": "0"}]
    problem = (
        f"the substitute was due by {for_people(due)}"
        if ctx.now > due
        else f"{newcomer['tax_code']} is already in the project"
        if any(p["tax_code"] == newcomer["tax_code"] for p in ctx.data["partners"])
        else _composition_problem(_measure(ctx).data["composition"], rest)
    )
    return Refusal("substitution_in_time", problem, {}) if problem else None


def guard_variant_valid(ctx: Context) -> Refusal | None:
    """A variant restates the approved spending of each active partner, once each."""
    named = [p["tax_code"] for p in ctx.payload["partners"]]
    active = set(_active(ctx.data))
    if sorted(named) == sorted(active) and len(set(named)) == len(named):
        return None
    return Refusal(
        "variant_valid", f"a variant lists each active partner once: {', '.join(sorted(active))}", {}
    )


def guard_reviews_done(ctx: Context) -> Refusal | None:
    """Every report, the final one included, was reviewed."""
    pending = _pending_report(ctx.data)
    return Refusal("reviews_done", f"report {pending['n']} awaits review", {}) if pending else None


def _outcome(ctx: Context) -> str:
    return str(recomputation(ctx.data, d(_rules(ctx)["min_share"]))["outcome"])


def _outcome_guard(name: str, wanted: str) -> Any:
    def guard(ctx: Context) -> Refusal | None:
        found = _outcome(ctx)
        return None if found == wanted else Refusal(name, f"the recomputation gives {found}", {})

    guard.__doc__ = f"The recomputation on the admitted spending ends in {wanted}."
    return guard


guard_outcome_balance = _outcome_guard("outcome_balance", "balance")
guard_outcome_recovery = _outcome_guard("outcome_recovery", "recovery")
guard_outcome_revoked = _outcome_guard("outcome_revoked", "revoked")


def balance_due(data: Mapping[str, Any]) -> Decimal:
    """The balance still to pay: the recomputed grant not yet paid, and the recomputed loan."""
    figures = data["recomputation"]
    grant_left = max(d(figures["net"]), ZERO)
    loan_paid = sum(paid_by_partner(data, "loan").values(), ZERO)
    return grant_left + d(figures["loan"]) - loan_paid


def guard_payment_matches(ctx: Context) -> Refusal | None:
    """The balance order pays exactly what is due, dated between acceptance and today."""
    due = balance_due(ctx.data)
    problem = None if d(ctx.payload["amount"]) == due else f"the balance is {euro(due)}"
    problem = problem or _date_problem(ctx, date.fromisoformat(ctx.payload["paid_on"]))
    return Refusal("payment_matches", problem, {"due": text(due)}) if problem else None


def repayment_due(
    data: Mapping[str, Any], rates: Mapping[str, Any], repaid_on: date
) -> tuple[Decimal, Decimal]:
    """Principal and statutory interest owed at ``repaid_on`` (interest from the advance's value date)."""
    recovery = data["recovery"]
    principal = d(recovery["principal"])
    return principal, interest(principal, date.fromisoformat(recovery["since"]), repaid_on, rates)


def guard_repayment_matches(ctx: Context) -> Refusal | None:
    """The repayment is the principal plus the statutory interest to its day."""
    repaid_on = date.fromisoformat(ctx.payload["paid_on"])
    try:
        principal, owed = repayment_due(ctx.data, _rules(ctx)["legal_interest"], repaid_on)
    except MissingRate as exc:
        return Refusal("repayment_matches", f"{exc}: add it to the measure's [project.legal_interest]", {})
    problem = (
        f"{repaid_on.isoformat()} is before the payment it repays"
        if repaid_on < date.fromisoformat(ctx.data["recovery"]["since"])
        else f"{repaid_on.isoformat()} is in the future"
        if repaid_on > _today(ctx)
        else None
        if d(ctx.payload["amount"]) == principal + owed
        else f"{euro(principal + owed)} is due on {repaid_on.isoformat()}: "
        f"{euro(principal)} and {euro(owed)} of interest"
    )
    return Refusal("repayment_matches", problem, {"due": text(principal + owed)}) if problem else None


def guard_loan_to_disburse(ctx: Context) -> Refusal | None:
    """After the recovery, a recomputed loan is still to disburse."""
    figures = ctx.data.get("recomputation")
    return (
        None if figures and d(figures["loan"]) > 0 else Refusal("loan_to_disburse", "no loan to disburse", {})
    )


def guard_no_loan_to_disburse(ctx: Context) -> Refusal | None:
    """After the recovery nothing is left to pay: the project closes."""
    return (
        None if guard_loan_to_disburse(ctx) else Refusal("no_loan_to_disburse", "a loan is to disburse", {})
    )


# --- handlers ---------------------------------------------------------------


def create(ctx: Context) -> Outcome:
    """Open the project on the award: partners with their share of grant and loan, the acceptance term."""
    application = ctx.reader.get("application", ctx.payload["application_id"])
    assert application is not None  # the create guard checked it
    app = application.data
    measure = ctx.reader.get("measure", app["measure_id"])
    assert measure is not None
    award = app["award"]
    shares = share_award(
        measure.data["aid"], app["partners"], d(award["grant"]), d(award["loan"]), app.get("variant")
    )
    partners = [{**p, **share, "status": "active"} for p, share in zip(app["partners"], shares, strict=True)]
    due = ctx.now + timedelta(days=rules_of(measure.data)["acceptance_days"])
    data = {
        "application_id": application.id,
        "measure_id": app["measure_id"],
        "owner": app["owner"],
        "title": app["title"],
        "duration_months": app["duration_months"],
        "variant": app.get("variant"),
        "pre_amortisation_months": app.get("pre_amortisation_months", 0),
        "award": {k: award[k] for k in ("base", "grant", "loan")},
        "partners": partners,
        "notified_at": to_json(ctx.now),
        "acceptance_due": to_json(due),
    }
    changes = _book(data, "awarded", **data)
    return Outcome(
        changes=changes,
        record={"acceptance_due": to_json(due), "award": data["award"]},
        parent_id=app["measure_id"],
    )


def accept(ctx: Context) -> Outcome:
    """Start the project: its end date and the final report's term follow from the acceptance."""
    ends_on = add_months(_today(ctx), ctx.data["duration_months"])
    due = _end_of(ends_on + timedelta(days=_rules(ctx)["final_report_days"]))
    changes = {
        "accepted_at": to_json(ctx.now),
        "ends_on": ends_on.isoformat(),
        "final_report_due": to_json(due),
    }
    return Outcome(changes=changes, record=changes)


def propose_forfeiture(ctx: Context) -> Outcome:
    """Record which term passed; the director decides."""
    term, due = _term(ctx)
    state = ctx.entity.state if ctx.entity else ""
    proposal = {"term": term, "due": due, "proposed_at": to_json(ctx.now), "from": state}
    return Outcome(changes={"forfeiture": proposal}, record={"forfeiture": proposal})


def _revoke(ctx: Context, kind: str, reason: str | None) -> Outcome:
    """End the project's right to the aid: release what the measure holds, recover what was paid."""
    held = sum((d(p["grant"]) + d(p["loan"]) for p in ctx.data["partners"]), ZERO)
    revocation = {"kind": kind, "reason": reason, "at": to_json(ctx.now), "released": text(held)}
    changes: dict[str, Any] = {"revocation": revocation}
    paid = paid_by_partner(ctx.data)
    if sum(paid.values(), ZERO) > 0:
        changes["recovery"] = {
            "principal": text(sum(paid.values(), ZERO)),
            "since": ctx.data["advance"]["paid_on"],
            "partners": {code: text(amount) for code, amount in paid.items()},
        }
    changes = _book(ctx.data, "", **changes)
    record = {
        "revocation": revocation,
        **({"to_recover": changes["recovery"]} if "recovery" in changes else {}),
    }
    return Outcome(changes=changes, record=record, follow_ups=_release(ctx, held))


def reinstate(ctx: Context) -> Outcome:
    """The director does not forfeit: the term that passed is extended, the project goes back."""
    origin, due = ctx.data["forfeiture"]["from"], to_json(local_to_utc(ctx.payload["due"]))
    changes: dict[str, Any] = {"forfeiture": None}
    if origin == "awarded":
        changes["acceptance_due"] = due
    elif origin == "substitution_pending":
        changes["substitution"] = {**ctx.data["substitution"], "due": due}
    else:
        changes["final_report_due"] = due
    extension = {
        **ctx.data["forfeiture"],
        "reason": ctx.payload["reason"],
        "new_due": due,
        "at": to_json(ctx.now),
    }
    changes["extensions"] = [*ctx.data.get("extensions", []), extension]
    return Outcome(changes=changes, record={"extension": extension})


def forfeit(ctx: Context) -> Outcome:
    """Decadenza, decided by the director."""
    return _revoke(ctx, "forfeiture", ctx.payload["reason"])


def renounce(ctx: Context) -> Outcome:
    """The beneficiary renounces the aid."""
    return _revoke(ctx, "renunciation", ctx.payload.get("reason"))


def pay_advance(ctx: Context) -> Outcome:
    """Record the advance's payment order, shared among the partners by their grant."""
    amount = d(ctx.payload["amount"])
    active = list(_active(ctx.data).values())
    parts = split(amount, [d(p["grant"]) for p in active])
    payment = {
        "kind": "advance",
        "mandate": ctx.payload["mandate"],
        "paid_on": ctx.payload["paid_on"],
        "amount": text(amount),
        "partners": {
            p["tax_code"]: {"grant": text(x), "loan": "0.00"} for p, x in zip(active, parts, strict=True)
        },
    }
    advance = {**ctx.payload, "recorded_at": to_json(ctx.now)}
    changes = _book(ctx.data, "", advance=advance, payments=[*ctx.data.get("payments", []), payment])
    return Outcome(changes=changes, record={"payment": payment})


def report(ctx: Context) -> Outcome:
    """File a report; its items are numbered ``report.item`` for the review."""
    number = len(ctx.data.get("reports", [])) + 1
    items = [{**item, "id": f"{number}.{i}"} for i, item in enumerate(ctx.payload["items"], start=1)]
    filed = {"n": number, "kind": ctx.payload["kind"], "filed_at": to_json(ctx.now), "items": items}
    total = sum((d(i["amount"]) for i in items), ZERO)
    return Outcome(
        changes={"reports": [*ctx.data.get("reports", []), filed]},
        record={"report": number, "kind": ctx.payload["kind"], "items": len(items), "reported": text(total)},
    )


def review(ctx: Context) -> Outcome:
    """Admit or cut each item of the report, with the reason for each cut."""
    decided = {x["item"]: x for x in ctx.payload["decisions"]}
    admitted: dict[str, Decimal] = {}
    reports = []
    for stored in ctx.data["reports"]:
        filed = stored
        if filed["n"] == ctx.payload["report"]:
            items = []
            for item in filed["items"]:
                x = decided[item["id"]]
                items.append(
                    {**item, "admitted": x["admitted"], **({"reason": x["reason"]} if "reason" in x else {})}
                )
                admitted[item["partner"]] = admitted.get(item["partner"], ZERO) + d(x["admitted"])
            filed = {**filed, "items": items, "reviewed": True, "reviewed_at": to_json(ctx.now)}
        reports.append(filed)
    changes = _book(ctx.data, "", reports=reports)
    return Outcome(
        changes=changes,
        record={"report": ctx.payload["report"], "admitted": {c: text(a) for c, a in admitted.items()}},
    )


def leave(ctx: Context) -> Outcome:
    """A partner leaves: its share is released, or held for a substitute if the composition breaks."""
    code = ctx.payload["partner"]
    broken = _without(ctx) is not None
    partners, released = [], ZERO
    for stored in ctx.data["partners"]:
        p = stored
        if p["tax_code"] == code:
            before = {
                "grant": p["grant"],
                "loan": p["loan"],
                "main": p["main"],
                "experimental": p["experimental"],
            }
            p = {
                **p,
                "status": "left",
                "left_at": to_json(ctx.now),
                "reason": ctx.payload["reason"],
                "award_before": before,
            }
            if not broken:
                released = d(p["grant"]) + d(p["loan"])
                p = {**p, "grant": "0.00", "loan": "0.00"}
        partners.append(p)
    changes: dict[str, Any] = {"partners": partners}
    if broken:
        due = ctx.now + timedelta(days=_rules(ctx)["substitution_days"])
        changes["substitution"] = {"partner": code, "due": to_json(due), "since": to_json(ctx.now)}
    else:
        changes["award"] = _award_of(partners)
    changes = _book(ctx.data, "", **changes)
    record = {
        "partner": code,
        "released": text(released),
        **({"substitution": changes["substitution"]} if broken else {}),
    }
    return Outcome(changes=changes, record=record, follow_ups=_release(ctx, released))


def _award_of(partners: list[dict[str, Any]]) -> dict[str, str]:
    grant = sum((d(p["grant"]) for p in partners), ZERO)
    loan = sum((d(p["loan"]) for p in partners), ZERO)
    return {"base": text(grant + loan), "grant": text(grant), "loan": text(loan)}


def substitute(ctx: Context) -> Outcome:
    """The substitute takes over the leaving partner's approved spending and share of the award."""
    code = ctx.data["substitution"]["partner"]
    newcomer = dict(ctx.payload["partner"])
    partners = []
    for stored in ctx.data["partners"]:
        p = stored
        if p["tax_code"] == code:
            newcomer.update(
                {k: p[k] for k in ("main", "experimental", "grant", "loan")},
                capofila=False,
                status="active",
                substitute_of=code,
                act=ctx.payload["act"],
            )
            p = {
                **p,
                "status": "replaced",
                "replaced_by": newcomer["tax_code"],
                "grant": "0.00",
                "loan": "0.00",
            }
        partners.append(p)
    partners.append(newcomer)
    substitution = {**ctx.data["substitution"], "by": newcomer["tax_code"], "approved_at": to_json(ctx.now)}
    changes = _book(
        ctx.data,
        "",
        partners=partners,
        substitution=None,
        substitutions=[*ctx.data.get("substitutions", []), substitution],
    )
    return Outcome(changes=changes, record={"substitution": substitution})


def request_variant(ctx: Context) -> Outcome:
    """Record the requested change for the operator's decision."""
    request = {**ctx.payload, "requested_at": to_json(ctx.now)}
    return Outcome(changes={"variant_request": request}, record={"variant_request": request})


def approve_variant(ctx: Context) -> Outcome:
    """Apply the change: the award follows the new spending, never above what was awarded."""
    request = ctx.data["variant_request"]
    planned = {p["tax_code"]: p for p in request["partners"]}
    partners = [
        {**p, "main": planned[p["tax_code"]]["main"], "experimental": planned[p["tax_code"]]["experimental"]}
        if p["tax_code"] in planned
        else p
        for p in ctx.data["partners"]
    ]
    active = [p for p in partners if p["status"] == "active"]
    aid = _measure(ctx).data["aid"]
    earned = compute(aid, active, variant=ctx.data.get("variant"))
    old = _award_of(ctx.data["partners"])
    grant, loan = min(d(old["grant"]), d(earned["grant"])), min(d(old["loan"]), d(earned["loan"]))
    shares = iter(share_award(aid, active, grant, loan, ctx.data.get("variant")))
    partners = [{**p, **next(shares)} if p["status"] == "active" else p for p in partners]
    award = _award_of(partners)
    released = d(old["base"]) - d(award["base"])
    variant = {**request, "approved_at": to_json(ctx.now), "award": award, "released": text(released)}
    changes = _book(
        ctx.data,
        "",
        partners=partners,
        award=award,
        variant_request=None,
        variants=[*ctx.data.get("variants", []), variant],
    )
    return Outcome(changes=changes, record={"variant": variant}, follow_ups=_release(ctx, released))


def reject_variant(ctx: Context) -> Outcome:
    """Refuse the change, saying why."""
    rejected = {
        **ctx.data["variant_request"],
        "rejected_at": to_json(ctx.now),
        "reason_rejected": ctx.payload["reason"],
    }
    return Outcome(
        changes={"variant_request": None, "variants": [*ctx.data.get("variants", []), rejected]},
        record={"rejected": ctx.payload["reason"]},
    )


def recompute(ctx: Context) -> Outcome:
    """Recompute the aid on the admitted spending; release the difference; open a balance or a recovery."""
    figures = recomputation(ctx.data, d(_rules(ctx)["min_share"]))
    changes: dict[str, Any] = {"recomputation": {**figures, "at": to_json(ctx.now)}}
    if d(figures["share"]) < d(figures["min_share"]):
        changes["revocation"] = {
            "kind": "below the minimum share",
            "reason": f"admitted {figures['share']} of the approved spending, below {figures['min_share']}",
            "at": to_json(ctx.now),
            "released": figures["released"],
        }
    if figures["outcome"] == "recovery":
        changes["recovery"] = {
            "principal": text(-d(figures["net"])),
            "since": ctx.data["advance"]["paid_on"],
            "partners": {
                c: text(-d(line["net"])) for c, line in figures["partners"].items() if d(line["net"]) != 0
            },
        }
    changes = _book(ctx.data, "", **changes)
    return Outcome(
        changes=changes, record={"recomputation": figures}, follow_ups=_release(ctx, d(figures["released"]))
    )


def _instalments(ctx: Context, loan: Decimal, first: date) -> list[dict[str, str]]:
    aid = _measure(ctx).data["aid"]
    per_year = int(aid.get("instalments_per_year", 2))
    count = _rules(ctx)["loan_instalments"] or int(aid.get("loan_years", 0)) * per_year
    rate = d(aid.get("loan_interest", "0"))
    return loan_plan(
        loan,
        count,
        per_year,
        rate,
        first,
        pre_amortisation_months=int(ctx.data.get("pre_amortisation_months", 0)),
    )


def pay_balance(ctx: Context) -> Outcome:
    """Record the balance's payment order and the loan's disbursement, with the loan's repayment plan."""
    figures = ctx.data["recomputation"]
    recovered = bool(ctx.data.get("recovery"))
    lines = {
        code: {"grant": "0.00" if recovered else line["net"], "loan": line["loan"]}
        for code, line in figures["partners"].items()
        if (not recovered and d(line["net"]) != 0) or d(line["loan"]) > 0
    }
    payment = {
        "kind": "balance",
        "mandate": ctx.payload["mandate"],
        "paid_on": ctx.payload["paid_on"],
        "amount": ctx.payload["amount"],
        "partners": lines,
    }
    plan = _instalments(ctx, d(figures["loan"]), date.fromisoformat(ctx.payload["paid_on"]))
    changes = _book(ctx.data, "", payments=[*ctx.data.get("payments", []), payment], loan_plan=plan)
    return Outcome(changes=changes, record={"payment": payment, "loan_plan": plan})


def repay(ctx: Context) -> Outcome:
    """Record the repayment: the principal recovered per partner, and the interest to its day."""
    rates = _rules(ctx)["legal_interest"]
    recovery = ctx.data["recovery"]
    repaid_on = date.fromisoformat(ctx.payload["paid_on"])
    principal, owed = repayment_due(ctx.data, rates, repaid_on)
    periods = interest_parts(principal, date.fromisoformat(recovery["since"]), repaid_on, rates)
    done = {
        **ctx.payload,
        "principal": text(principal),
        "interest": text(owed),
        "periods": periods,
        "partners": recovery["partners"],
    }
    changes = _book(ctx.data, "", recoveries=[*ctx.data.get("recoveries", []), done])
    return Outcome(changes=changes, record={"recovery": done})
