"""Phase 1 of the 2022 call, rule by rule, on a real SQLite file and a simulated clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.factories import CALL_ID, World, call_config, partners, rome
from workflow.errors import GuardRefused, InvalidInput, TransitionNotAllowed

NO_EXTENSIONS = {"at": "2022-12-31T16:00", "act": "d.d.u.o. n. 2338/2022 (avviso)"}


def submit(world: World, proposal: str, owner: str = "capofila.alfa") -> Any:
    return world.engine.fire("proposal", proposal, "submit", actor=owner, role="applicant")


def refusal(action: Any) -> GuardRefused:
    with pytest.raises(GuardRefused) as caught:
        action()
    return caught.value


@pytest.fixture(name="world")
def _world_on_each_backend(contract_world: World) -> World:
    """These rules are part of the contract: every test here runs on SQLite and on PostgreSQL."""
    return contract_world


@pytest.fixture(name="plain")
def _plain(world: World) -> World:
    """The 2022 call as first published: one deadline, no extensions."""
    world.open_call(call_config(deadline=NO_EXTENSIONS))
    return world


@pytest.fixture(name="call")
def _call(world: World) -> World:
    """The 2022 call with its three extensions by act."""
    world.open_call()
    return world


class TestDeadline:
    def test_the_deadline_instant_is_on_time(self, plain: World) -> None:
        """A submission at 16:00:00.000000 on 31 December 2022 is accepted."""
        draft = plain.draft()
        plain.at(2022, 12, 31, 16, 0, 0)
        assert submit(plain, draft).to_state == "submitted"

    @pytest.mark.parametrize(
        ("late", "shown"),
        [(timedelta(microseconds=1), "16:00:00.000001"), (timedelta(seconds=1), "16:00:01")],
    )
    def test_one_instant_late_is_refused(self, plain: World, late: timedelta, shown: str) -> None:
        """After the deadline in force, a submission is refused, saying which deadline and when."""
        draft = plain.draft()
        plain.clock.set(rome(2022, 12, 31, 16) + late)
        error = refusal(lambda: submit(plain, draft))
        assert error.guard == "deadline_not_passed"
        assert "deadline in force 2022-12-31 16:00:00 Europe/Rome" in error.reason
        assert f"passed at {shown}" in error.reason
        assert plain.engine.get("proposal", draft).state == "draft"

    def test_extension_in_force(self, call: World) -> None:
        """On 1 June 2023 the extension adopted on 30/11/2022 is in force: accepted."""
        draft = call.draft()
        call.at(2023, 6, 1, 10)
        assert submit(call, draft).to_state == "submitted"

    def test_last_extension_passed(self, call: World) -> None:
        """One second after 31/12/2027 16:00 the refusal names the last act."""
        draft = call.draft()
        call.at(2027, 12, 31, 16, 0, 1)
        error = refusal(lambda: submit(call, draft))
        expected = "deadline in force 2027-12-31 16:00:00 Europe/Rome (DGR n. 5377 del 24/11/2025)"
        assert f"{expected} passed at 16:00:01" in str(error)

    def test_extend_by_act(self, plain: World) -> None:
        """A director's extension adds a deadline version in force from then on."""
        draft = plain.draft()
        plain.at(2022, 11, 30, 12)
        event = plain.engine.fire(
            "call",
            CALL_ID,
            "extend",
            actor="dir.verdi",
            role="director",
            payload={"at": "2023-12-31T16:00", "act": "DGR del 30/11/2022"},
        )
        assert event.to_state == "open"
        assert event.payload["effects"]["deadline"]["at"] == "2023-12-31T15:00:00Z"
        plain.at(2023, 1, 15, 9)
        assert submit(plain, draft).to_state == "submitted"

    def test_extension_must_be_later(self, plain: World) -> None:
        """An extension to an earlier deadline is refused."""
        error = refusal(
            lambda: plain.engine.fire(
                "call",
                CALL_ID,
                "extend",
                actor="dir.verdi",
                role="director",
                payload={"at": "2022-12-30T16:00", "act": "DGR sbagliata"},
            )
        )
        assert error.guard == "extension_later"

    def test_extension_at_a_dst_gap(self, plain: World) -> None:
        """An extension to a local time that does not exist is invalid input."""
        with pytest.raises(InvalidInput) as caught:
            plain.engine.fire(
                "call",
                CALL_ID,
                "extend",
                actor="dir.verdi",
                role="director",
                payload={"at": "2023-03-26T02:30", "act": "DGR"},
            )
        assert caught.value.field == "at"

    def test_no_scheduler_needed(self, plain: World) -> None:
        """The guard reads the clock: late is late even though nothing ever closed the call."""
        draft = plain.draft()
        plain.at(2023, 1, 2, 9)
        assert plain.engine.get("call", CALL_ID).state == "open"
        assert refusal(lambda: submit(plain, draft)).guard == "deadline_not_passed"


class TestSubmissionRules:
    def test_nine_companies_refused(self, call: World) -> None:
        """At least 10 companies with a seat in Lombardy: 9 are refused, saying so."""
        draft = call.draft(partnership=call.partnership(companies=9))
        error = refusal(lambda: submit(call, draft))
        assert error.guard == "composition"
        assert error.reason == "9 companies with a seat in Lombardy, at least 10 required"

    def test_ten_companies_accepted(self, call: World) -> None:
        """Ten Lombard companies are enough."""
        draft = call.draft(partnership=call.partnership(companies=10))
        assert submit(call, draft).to_state == "submitted"

    def test_companies_outside_lombardy_do_not_count(self, call: World) -> None:
        """A company without a seat in Lombardy does not count towards the ten."""
        members = partners(9, extra=[{"tax_code": "00743110157", "name": "Fuori", "lombardy_seat": False}])
        pid = call.engine.create(
            "partnership",
            actor="capofila.alfa",
            role="applicant",
            payload={"name": "F", "agreement": "A", "partners": members},
        ).entity_id
        draft = call.draft(partnership=pid)
        assert "9 companies" in refusal(lambda: submit(call, draft)).reason

    def test_other_partner_needs_a_role(self, call: World) -> None:
        """A non-company partner must declare its role in the agreement."""
        university = {
            "tax_code": "80012000826",
            "name": "Università",
            "kind": "university",
            "lombardy_seat": True,
        }
        pid = call.partnership(extra=[university])
        error = refusal(lambda: submit(call, call.draft(partnership=pid)))
        assert error.reason == "partners without a declared role: Università (80012000826)"

    def test_partner_kind_not_allowed(self, call: World) -> None:
        """Only the kinds the call allows may join."""
        other = {
            "tax_code": "80012000826",
            "name": "Ente",
            "kind": "other",
            "lombardy_seat": True,
            "role": "x",
        }
        error = refusal(lambda: submit(call, call.draft(partnership=call.partnership(extra=[other]))))
        assert error.reason == "partner kinds not allowed (other): Ente (80012000826)"

    def test_priority_area_required(self, call: World) -> None:
        """At least one of the five priority areas is required."""
        error = refusal(lambda: submit(call, call.draft(areas=[])))
        assert error.guard == "priority_area"
        assert "0 priority areas chosen, at least 1 required (a, b, c, d, e)" in error.reason

    def test_unknown_area(self, call: World) -> None:
        """An area the call does not list is refused."""
        assert (
            "unknown priority areas: z" in refusal(lambda: submit(call, call.draft(areas=["a", "z"]))).reason
        )

    def test_required_fields(self, call: World) -> None:
        """Title and summary are required to submit (a draft may lack them)."""
        error = refusal(lambda: submit(call, call.draft(title="", summary="")))
        assert (error.guard, error.data["missing"]) == ("required_fields", ["title", "summary"])

    def test_only_the_owner_submits(self, call: World) -> None:
        """Another applicant cannot submit someone else's proposal."""
        draft = call.draft()
        assert refusal(lambda: submit(call, draft, owner="capofila.other")).guard == "owner"

    def test_only_the_owner_files(self, call: World) -> None:
        """An applicant cannot open a draft for a partnership they do not own."""
        pid = call.partnership("capofila.alfa")
        error = refusal(lambda: call.draft("capofila.intruder", partnership=pid))
        assert error.guard == "partnership_exists"


class TestProtocolAndReceipt:
    def test_numbers_increase_and_refusals_consume_none(self, call: World) -> None:
        """Protocol numbers run 1, 2, 3 per call; a refused submission between them takes none."""
        first, bad, second = call.draft(), call.draft(areas=[]), call.draft()
        submit(call, first)
        with pytest.raises(GuardRefused):
            submit(call, bad)
        submit(call, second)
        protocols = [call.engine.get("proposal", p).data["protocol"] for p in (first, second)]
        assert protocols == ["MI-FILIERE-2022-000001", "MI-FILIERE-2022-000002"]
        assert "protocol" not in call.engine.get("proposal", bad).data

    def test_receipt(self, call: World) -> None:
        """The receipt carries the number, the time and a SHA-256 of exactly what was submitted."""
        a, b = call.draft(), call.draft(title="Un altro titolo")
        call.at(2022, 9, 10, 11, 30)
        receipt_a = submit(call, a).payload["effects"]["receipt"]
        receipt_b = submit(call, b).payload["effects"]["receipt"]
        assert receipt_a["protocol"] == "MI-FILIERE-2022-000001"
        assert receipt_a["at"] == "2022-09-10T09:30:00Z"
        assert len(receipt_a["sha256"]) == 64
        assert receipt_a["sha256"] != receipt_b["sha256"]
        assert call.engine.get("proposal", a).data["receipt"] == receipt_a


class TestIntegration:
    def _requested(self, call: World) -> str:
        call.at(2022, 9, 10, 10)
        proposal = call.submitted()
        call.at(2022, 10, 3, 10)
        call.engine.fire(
            "proposal",
            proposal,
            "request_integration",
            actor="op.rossi",
            role="operator",
            payload={"reason": "Accordo non firmato da tutti"},
        )
        return proposal

    def test_suspension_extends_the_term(self, call: World) -> None:
        """The evaluation term is extended by exactly the time the request was pending."""
        proposal = self._requested(call)
        due_before = call.engine.get("proposal", proposal).data["evaluation_due"]
        call.at(2022, 10, 7, 16, 30)
        call.engine.fire(
            "proposal",
            proposal,
            "integrate",
            actor="capofila.alfa",
            role="applicant",
            payload={"note": "Accordo firmato"},
        )
        data = call.engine.get("proposal", proposal).data
        suspended = rome(2022, 10, 7, 16, 30) - rome(2022, 10, 3, 10)
        from handlers.timeutil import from_json

        assert from_json(data["evaluation_due"]) - from_json(due_before) == suspended
        assert call.engine.get("proposal", proposal).state == "submitted"
        assert data["integrations"][0]["answered_at"] == "2022-10-07T14:30:00Z"

    def test_late_integration_refused(self, call: World) -> None:
        """An integration after its due date (10 days by default) is refused."""
        proposal = self._requested(call)
        call.at(2022, 10, 13, 10, 0, 1)
        error = refusal(
            lambda: call.engine.fire(
                "proposal",
                proposal,
                "integrate",
                actor="capofila.alfa",
                role="applicant",
                payload={"note": "tardi"},
            )
        )
        assert error.guard == "before_integration_due"

    def test_lapse(self, call: World) -> None:
        """A request lapses only after its due date, making the proposal inadmissible."""
        proposal = self._requested(call)
        call.at(2022, 10, 13, 9)
        assert (
            refusal(
                lambda: call.engine.fire("proposal", proposal, "lapse", actor="system", role="system")
            ).guard
            == "integration_due_passed"
        )
        call.at(2022, 10, 13, 10, 0, 1)
        assert (
            call.engine.fire("proposal", proposal, "lapse", actor="system", role="system").to_state
            == "inadmissible"
        )

    def test_due_date_in_the_past(self, call: World) -> None:
        """An integration request with a due date already past is refused."""
        call.at(2022, 9, 10, 10)
        proposal = call.submitted()
        error = refusal(
            lambda: call.engine.fire(
                "proposal",
                proposal,
                "request_integration",
                actor="op.rossi",
                role="operator",
                payload={"reason": "x", "due": "2022-09-01T12:00"},
            )
        )
        assert error.guard == "due_in_future"

    def test_integration_needs_a_reason(self, call: World) -> None:
        """An integration request must say what is missing."""
        proposal = call.submitted()
        error = refusal(
            lambda: call.engine.fire(
                "proposal",
                proposal,
                "request_integration",
                actor="op.rossi",
                role="operator",
                payload={"reason": "  "},
            )
        )
        assert error.guard == "reason_given"

    def test_inadmissible_needs_a_reason(self, call: World) -> None:
        """Declaring a proposal inadmissible needs a reason."""
        proposal = call.submitted()
        assert (
            refusal(
                lambda: call.engine.fire(
                    "proposal",
                    proposal,
                    "declare_inadmissible",
                    actor="op.rossi",
                    role="operator",
                    payload={"reason": " "},
                )
            ).guard
            == "reason_given"
        )


class TestEvaluation:
    def _evaluate(self, call: World, proposal: str, scores: dict[str, int], who: str = "eval.bianchi") -> Any:
        return call.engine.fire(
            "proposal", proposal, "evaluate", actor=who, role="evaluator", payload={"scores": scores}
        )

    def test_threshold(self, call: World) -> None:
        """A total of 60 or more is worthy (evaluated); below 60 is negative, to be notified first
        (preavviso di rigetto: test_preavviso.py)."""
        call.evaluator()
        at, below = call.submitted(), call.submitted()
        assert (
            self._evaluate(
                call, at, {"coherence": 20, "partnership": 20, "innovation": 10, "impact": 10}
            ).to_state
            == "evaluated"
        )
        assert (
            self._evaluate(
                call, below, {"coherence": 19, "partnership": 20, "innovation": 10, "impact": 10}
            ).to_state
            == "rejection_pending"
        )
        assert call.engine.get("proposal", below).data["evaluation"]["total"] == 59

    def test_score_not_allowed(self, call: World) -> None:
        """A score outside the criterion's allowed values is refused."""
        call.evaluator()
        proposal = call.submitted()
        error = refusal(
            lambda: self._evaluate(
                call, proposal, {"coherence": 20, "partnership": 15, "innovation": 30, "impact": 20}
            )
        )
        assert (error.guard, error.data["criterion"]) == ("scores_valid", "partnership")

    def test_missing_criterion(self, call: World) -> None:
        """Every criterion must be scored."""
        call.evaluator()
        proposal = call.submitted()
        error = refusal(lambda: self._evaluate(call, proposal, {"coherence": 20}))
        assert error.data["missing"] == ["impact", "innovation", "partnership"]

    def test_tied_evaluator(self, call: World) -> None:
        """An evaluator tied to any partner may not evaluate; the refusal names the partner."""
        pid = call.partnership()
        tied = call.engine.get("partnership", pid).data["partners"][4]["tax_code"]
        call.evaluator("eval.tied", ties=[tied])
        proposal = call.submitted(partnership=pid)
        error = refusal(lambda: self._evaluate(call, proposal, call.scores(), who="eval.tied"))
        assert error.guard == "evaluator_independent"
        assert tied in error.reason

    def test_unregistered_evaluator(self, call: World) -> None:
        """Only registered, active evaluators evaluate."""
        proposal = call.submitted()
        assert (
            "is not an active evaluator"
            in refusal(lambda: self._evaluate(call, proposal, call.scores(), who="eval.ghost")).reason
        )

    def test_ties_declared_later(self, call: World) -> None:
        """Ties declared after registration count too."""
        call.evaluator("eval.late")
        pid = call.partnership()
        tied = call.engine.get("partnership", pid).data["partners"][0]["tax_code"]
        call.engine.fire(
            "evaluator",
            "eval.late",
            "declare_ties",
            actor="eval.late",
            role="evaluator",
            payload={"ties": [tied]},
        )
        proposal = call.submitted(partnership=pid)
        assert (
            refusal(lambda: self._evaluate(call, proposal, call.scores(), who="eval.late")).guard
            == "evaluator_independent"
        )


class TestDecreesAndList:
    def _decree(self, call: World, proposals: list[str], act: str = "d.d.u.o. n. 1") -> str:
        decree = call.engine.create(
            "decree",
            actor="dir.verdi",
            role="director",
            payload={"call_id": CALL_ID, "act": act, "proposal_ids": proposals},
        )
        call.engine.fire("decree", decree.entity_id, "approve", actor="dir.verdi", role="director")
        return decree.entity_id

    def test_approval_lists_each_proposal(self, call: World) -> None:
        """Approving lists every named proposal by its own event caused by the approval."""
        a, b = call.evaluated(), call.evaluated()
        decree = self._decree(call, [a, b])
        approval = call.engine.history("decree", decree)[-1]
        for proposal in (a, b):
            listed = call.engine.history("proposal", proposal)[-1]
            assert (listed.trigger, listed.to_state, listed.cause_seq) == ("list", "listed", approval.seq)
        version = call.engine.list_as_of(CALL_ID)
        assert version is not None
        assert (version.number, version.decree_id, version.proposal_ids) == (1, decree, tuple(sorted((a, b))))

    def test_versions_and_as_of(self, call: World) -> None:
        """Each decree makes the next version; a withdrawn proposal drops out of the next one only."""
        call.at(2022, 9, 10)
        assert call.engine.list_as_of(CALL_ID) is None
        a, b = call.evaluated(), call.evaluated()
        call.at(2022, 10, 14, 12)
        self._decree(call, [a, b])
        call.at(2023, 3, 1)
        c = call.evaluated()
        call.engine.fire("proposal", b, "withdraw", actor="capofila.alfa", role="applicant")
        call.at(2023, 10, 31, 12)
        self._decree(call, [c], act="d.d.u.o. n. 2")
        v1 = call.engine.list_as_of(CALL_ID, rome(2023, 10, 31, 11))
        v2 = call.engine.list_as_of(CALL_ID, rome(2023, 11, 1))
        assert v1 is not None
        assert v2 is not None
        assert (v1.number, v1.proposal_ids) == (1, tuple(sorted((a, b))))
        assert (v2.number, v2.proposal_ids) == (2, tuple(sorted((a, c))))
        assert call.engine.list_as_of(CALL_ID, rome(2022, 10, 14, 11, 59)) is None

    def test_approved_decree_is_immutable(self, call: World) -> None:
        """An approved decree can be neither amended nor approved again."""
        decree = self._decree(call, [call.evaluated()])
        for trigger in ("amend", "approve"):
            with pytest.raises(TransitionNotAllowed):
                call.engine.fire(
                    "decree",
                    decree,
                    trigger,
                    actor="dir.verdi",
                    role="director",
                    payload={"proposal_ids": ["P-000001"]} if trigger == "amend" else {},
                )

    def test_only_evaluated_proposals(self, call: World) -> None:
        """A decree may only name proposals judged worthy under its call."""
        submitted = call.submitted()
        decree = call.engine.create(
            "decree",
            actor="dir.verdi",
            role="director",
            payload={"call_id": CALL_ID, "act": "n. 3", "proposal_ids": [submitted]},
        )
        error = refusal(
            lambda: call.engine.fire(
                "decree", decree.entity_id, "approve", actor="dir.verdi", role="director"
            )
        )
        assert error.guard == "proposals_evaluated"
        assert f"{submitted} (submitted)" in error.reason

    def test_amend_a_draft_decree(self, call: World) -> None:
        """A draft decree may be amended to name other evaluated proposals."""
        a, b = call.evaluated(), call.evaluated()
        decree = call.engine.create(
            "decree",
            actor="dir.verdi",
            role="director",
            payload={"call_id": CALL_ID, "act": "n. 4", "proposal_ids": [a]},
        ).entity_id
        call.engine.fire(
            "decree", decree, "amend", actor="dir.verdi", role="director", payload={"proposal_ids": [b, a]}
        )
        assert call.engine.get("decree", decree).data["proposal_ids"] == sorted([a, b])

    def test_listing_needs_the_decree(self, call: World) -> None:
        """A proposal cannot be listed by hand without an approved decree naming it."""
        proposal = call.evaluated()
        error = refusal(
            lambda: call.engine.fire(
                "proposal",
                proposal,
                "list",
                actor="dir.verdi",
                role="director",
                payload={"decree_id": "D-999"},
            )
        )
        assert error.guard == "in_approved_decree"


class TestClosing:
    def test_close_then_expiry_jobs(self, call: World) -> None:
        """Closing is one event; the plan then asks for one expiry per remaining draft, at the deadline."""
        from scheduler.plan import plan

        drafts = [call.draft(), call.draft()]
        submitted = call.submitted()
        call.at(2028, 1, 2, 8)
        close = call.engine.fire("call", CALL_ID, "close", actor="system", role="system")
        assert close.payload["effects"]["drafts_left"] == 2
        assert [call.engine.get("proposal", d).state for d in drafts] == ["draft", "draft"]
        jobs = [j for j in plan(call.engine) if j.trigger == "expire"]
        assert sorted(j.entity_id for j in jobs) == sorted(drafts)
        for job in jobs:
            call.engine.fire(
                job.kind,
                job.entity_id,
                "expire",
                actor="system",
                role="system",
                idempotency_key=job.idempotency_key,
                effective_at=job.effective_at,
            )
        assert [j for j in plan(call.engine) if j.trigger == "expire"] == []
        for draft in drafts:
            expiry = call.engine.history("proposal", draft)[-1]
            assert (expiry.trigger, expiry.to_state, expiry.actor, expiry.role) == (
                "expire",
                "expired",
                "system",
                "system",
            )
            assert expiry.effective_at == rome(2027, 12, 31, 16)
            assert expiry.seq > close.seq
        assert call.engine.get("proposal", submitted).state == "submitted"

    def test_no_close_before_the_deadline(self, call: World) -> None:
        """The call cannot close before the deadline in force."""
        call.at(2027, 12, 31, 16)
        assert (
            refusal(lambda: call.engine.fire("call", CALL_ID, "close", actor="system", role="system")).guard
            == "deadline_passed"
        )

    def test_no_expiry_before_the_deadline(self, call: World) -> None:
        """A draft cannot be expired by hand while the deadline has not passed."""
        draft = call.draft()
        assert (
            refusal(
                lambda: call.engine.fire("proposal", draft, "expire", actor="system", role="system")
            ).guard
            == "deadline_passed"
        )

    def test_no_drafts_under_a_closed_call(self, call: World) -> None:
        """A closed call accepts no new drafts."""
        pid = call.partnership()
        call.at(2028, 1, 1)
        call.engine.fire("call", CALL_ID, "close", actor="system", role="system")
        assert refusal(lambda: call.draft(partnership=pid)).guard == "call_accepts_drafts"

    def test_no_opening_before_time(self, world: World) -> None:
        """A call opens at its opening time, not before."""
        world.engine.create("call", actor="op.rossi", role="operator", payload=call_config())
        error = refusal(lambda: world.engine.fire("call", CALL_ID, "open", actor="system", role="system"))
        assert error.guard == "opening_reached"

    def test_submission_needs_an_open_call(self, world: World) -> None:
        """Drafts may be prepared while the call is scheduled, but not submitted."""
        world.engine.create("call", actor="op.rossi", role="operator", payload=call_config())
        draft = world.draft()
        assert refusal(lambda: submit(world, draft)).guard == "call_open"


class TestFunding:
    def test_fund_needs_a_funded_application(self, call: World) -> None:
        """A listed proposal is funded only through a funded Phase-2 application."""
        proposal = call.evaluated()
        decree = call.engine.create(
            "decree",
            actor="dir.verdi",
            role="director",
            payload={"call_id": CALL_ID, "act": "n. 1", "proposal_ids": [proposal]},
        )
        call.engine.fire("decree", decree.entity_id, "approve", actor="dir.verdi", role="director")
        error = refusal(
            lambda: call.engine.fire(
                "proposal",
                proposal,
                "fund",
                actor="system",
                role="system",
                payload={"application_id": "A-000001"},
            )
        )
        assert error.guard == "application_funded"
