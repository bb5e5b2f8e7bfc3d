"""The console through the real application on a real SQLite file (browser tests: tests/browser)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.factories import CALL_ID, World
from workflow.http import keys
from workflow.http.api import create_app
from workflow.http.console.i18n import translations

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


class Console:
    """A browser-less visitor of the console, signed in as one key."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.client = TestClient(create_app(world.engine), follow_redirects=False)
        self.secrets: dict[str, str] = {}
        for actor, role in (
            ("op.rossi", "operator"),
            ("corte.conti", "auditor"),
            ("capofila.alfa", "applicant"),
            ("dir.verdi", "director"),
        ):
            self.secrets[role] = keys.create(world.engine.db, actor=actor, role=role, now=world.clock.now())[
                1
            ]

    def sign_in(self, role: str) -> object:
        self.client.cookies.clear()
        form = self.client.get("/console/login")
        token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
        return self.client.post("/console/login", data={"csrf": token, "key": self.secrets[role], "next": ""})

    def csrf(self, path: str) -> str:
        return CSRF.search(self.client.get(path).text).group(1)  # type: ignore[union-attr]


@pytest.fixture(name="console")
def _console(world: World) -> Iterator[Console]:
    world.at(2022, 2, 25, 10)
    world.open_call()
    world.at(2022, 9, 10, 11)
    world.submitted("capofila.alfa")
    world.submitted("capofila.beta", partnership=world.partnership("capofila.beta", start=40))
    world.draft("capofila.gamma", partnership=world.partnership("capofila.gamma", start=80))
    console = Console(world)
    with console.client:
        yield console


class TestSignIn:
    def test_a_key_becomes_a_strict_http_only_session(self, console: Console) -> None:
        answer = console.sign_in("operator")
        assert answer.status_code == 303  # type: ignore[attr-defined]
        cookie = answer.headers["set-cookie"]  # type: ignore[attr-defined]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Max-Age=28800" in cookie
        assert console.secrets["operator"] not in cookie
        assert console.client.get("/console/calls").status_code == 200

    def test_without_a_session_every_page_sends_to_sign_in(self, console: Console) -> None:
        answer = console.client.get("/console/entities?kind=proposal")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/login?next=/console/entities"

    @pytest.mark.parametrize("role", ["applicant"])
    def test_a_role_without_a_console_is_refused(self, console: Console, role: str) -> None:
        assert console.sign_in(role).status_code == 401  # type: ignore[attr-defined]

    def test_a_wrong_key_is_refused(self, console: Console) -> None:
        console.secrets["operator"] = "fk_nothing_nothing"
        answer = console.sign_in("operator")
        assert answer.status_code == 401  # type: ignore[attr-defined]
        assert "non è valida" in answer.text  # type: ignore[attr-defined]

    def test_a_forged_cookie_is_no_session(self, console: Console) -> None:
        console.sign_in("operator")
        cookie = console.client.cookies.get("filiere_console")
        assert cookie is not None
        body, signature = cookie.split(".")
        console.client.cookies.clear()
        console.client.cookies.set("filiere_console", body + "." + signature[::-1])
        assert console.client.get("/console/calls").status_code == 303

    def test_revoking_the_key_ends_its_sessions(self, console: Console) -> None:
        console.sign_in("operator")
        key_id = console.secrets["operator"].split("_")[1]
        keys.revoke(console.world.engine.db, key_id, console.world.clock.now())
        assert console.client.get("/console/calls").status_code == 303

    def test_sign_out(self, console: Console) -> None:
        console.sign_in("operator")
        token = console.csrf("/console/calls")
        assert console.client.post("/console/logout", data={"csrf": token}).status_code == 303
        assert console.client.get("/console/calls").status_code == 303

    def test_the_next_page_is_only_a_console_page(self, console: Console) -> None:
        form = console.client.get("/console/login?next=https://evil.example/")
        assert 'value="/console/calls"' in form.text

    def test_trusted_single_sign_on_headers(self, console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FILIERE_CONSOLE_USER_HEADER", "X-Remote-User")
        monkeypatch.setenv("FILIERE_CONSOLE_ROLE_HEADER", "X-Remote-Role")
        headers = {"X-Remote-User": "mario.rossi", "X-Remote-Role": "director"}
        page = console.client.get("/console/calls", headers=headers)
        assert page.status_code == 200
        assert "mario.rossi" in page.text
        applicant = {"X-Remote-User": "impresa", "X-Remote-Role": "applicant"}
        assert console.client.get("/console/calls", headers=applicant).status_code == 403


class TestReading:
    def test_calls_show_the_deadline_in_force_and_counts(self, console: Console) -> None:
        console.sign_in("operator")
        page = console.client.get("/console/calls").text
        assert "31/12/2022 16:00:00" in page  # the deadline in force, Europe/Rome, to the second
        assert "presentata</a>: 2" in page
        assert "bozza</a>: 1" in page

    def test_filter_by_state_partner_and_export_csv(self, console: Console) -> None:
        console.sign_in("operator")
        listing = console.client.get("/console/entities", params={"kind": "proposal", "state": "submitted"})
        assert "2 trovati" in listing.text
        partner = console.world.engine.get("partnership", "PT-000002").data["partners"][0]["tax_code"]
        one = console.client.get("/console/entities", params={"kind": "proposal", "partner": partner})
        assert "1 trovati" in one.text
        assert "P-000002" in one.text
        csv = console.client.get(
            "/console/entities", params={"kind": "proposal", "state": "submitted", "format": "csv"}
        )
        lines = csv.text.strip().splitlines()
        assert csv.headers["content-type"].startswith("text/csv")
        assert [line.split(";")[0] for line in lines] == ["id", "P-000001", "P-000002"]
        assert "10/09/2022 11:00:00" in lines[1]

    def test_a_formula_in_a_title_is_not_a_formula_in_the_csv(self, console: Console) -> None:
        pt = console.world.partnership("capofila.delta", start=120)
        console.world.draft("capofila.delta", partnership=pt, title='=HYPERLINK("http://x")')
        console.sign_in("operator")
        csv = console.client.get(
            "/console/entities", params={"kind": "proposal", "state": "draft", "format": "csv"}
        )
        assert "'=HYPERLINK" in csv.text

    def test_an_entity_page_has_its_timeline_diagram_and_receipt(self, console: Console) -> None:
        console.sign_in("operator")
        page = console.client.get("/console/entities/proposal/P-000001").text
        assert "<svg" in page
        assert 'aria-label="proposal P-000001: submitted"' in page
        assert "MI-FILIERE-2022-000001" in page  # the receipt's protocol number
        assert page.count("capofila.alfa") >= 2  # created and submitted by the applicant
        assert "10/09/2022 11:00:00" in page

    def test_state_as_of_a_date(self, console: Console) -> None:
        """Before its creation it did not exist; at its submission it was submitted (rebuilt from the log)."""
        console.sign_in("operator")
        result = re.compile(r'id="as-of-result">(.*?)</p>', re.S)
        for moment, said in (("2022-09-01", "non esisteva ancora"), ("2022-09-10T11:00:00", "presentata")):
            page = console.client.get("/console/entities/proposal/P-000001", params={"as_of": moment}).text
            assert said in result.search(page).group(1)  # type: ignore[union-attr]

    def test_unknown_entity_is_not_found(self, console: Console) -> None:
        console.sign_in("operator")
        assert console.client.get("/console/entities/proposal/P-999999").status_code == 404
        assert console.client.get("/console/entities/nothing/P-1").status_code == 404

    def test_english_on_request(self, console: Console) -> None:
        console.sign_in("operator")
        answer = console.client.get("/console/lang/en?next=/console/calls")
        assert answer.status_code == 303
        page = console.client.get("/console/calls").text
        assert '<html lang="en">' in page
        assert "Deadline in force" in page
        assert "Scadenza in vigore" not in page


class TestActing:
    def test_a_refused_due_date_is_shown_next_to_its_field(self, console: Console) -> None:
        console.sign_in("operator")
        page = console.client.get("/console/entities/proposal/P-000001").text
        token, key = CSRF.search(page).group(1), KEY.search(page).group(1)  # type: ignore[union-attr]
        form = {"csrf": token, "trigger": "request_integration", "idempotency_key": key}
        answer = console.client.post(
            "/console/entities/proposal/P-000001/fire",
            data={**form, "reason": "Manca il bilancio", "due": "2022-09-01T12:00"},
        )
        assert answer.status_code == 422
        assert re.search(r'id="request_integration-due-error" role="alert">[^<]+', answer.text)
        assert console.world.engine.get("proposal", "P-000001").state == "submitted"

    def test_a_double_click_fires_once(self, console: Console) -> None:
        console.sign_in("operator")
        page = console.client.get("/console/entities/proposal/P-000001").text
        token, key = CSRF.search(page).group(1), KEY.search(page).group(1)  # type: ignore[union-attr]
        form = {
            "csrf": token,
            "trigger": "request_integration",
            "idempotency_key": key,
            "reason": "Manca il bilancio",
            "due": "2022-09-30T12:00",
        }
        before = len(list(console.world.engine.events()))
        for _ in range(2):
            answer = console.client.post("/console/entities/proposal/P-000001/fire", data=form)
            assert answer.status_code == 303
        assert len(list(console.world.engine.events())) == before + 1
        assert console.world.engine.get("proposal", "P-000001").state == "integration_requested"

    def test_a_post_without_the_token_is_refused(self, console: Console) -> None:
        console.sign_in("operator")
        answer = console.client.post(
            "/console/entities/proposal/P-000001/fire",
            data={"trigger": "declare_inadmissible", "reason": "x"},
        )
        assert answer.status_code == 403
        assert console.world.engine.get("proposal", "P-000001").state == "submitted"

    def test_an_auditor_sees_no_forms_and_a_forged_post_is_refused(self, console: Console) -> None:
        console.sign_in("auditor")
        page = console.client.get("/console/entities/proposal/P-000001").text
        assert "/fire" not in page
        token = CSRF.search(page).group(1)  # type: ignore[union-attr]
        before = len(list(console.world.engine.events()))
        answer = console.client.post(
            "/console/entities/proposal/P-000001/fire",
            data={"csrf": token, "trigger": "declare_inadmissible", "reason": "forged"},
        )
        assert answer.status_code == 403
        assert len(list(console.world.engine.events())) == before

    def test_bulk_action_preview_then_confirm(self, console: Console) -> None:
        console.sign_in("operator")
        token = console.csrf("/console/entities?kind=proposal")
        base = {"csrf": token, "kind": "proposal", "state": "submitted", "trigger": "request_integration"}
        fields = console.client.post("/console/bulk", data={**base, "step": "form"})
        assert 'name="reason"' in fields.text
        before = len(list(console.world.engine.events()))
        filled = {**base, "reason": "Manca la SWOT", "due": "2022-10-10T12:00"}
        preview = console.client.post("/console/bulk", data={**filled, "step": "preview"})
        assert "2 righe corrispondono ai filtri; 2 verrebbero eseguite" in preview.text
        assert len(list(console.world.engine.events())) == before
        done = console.client.post("/console/bulk", data={**filled, "step": "confirm"})
        assert "2 eseguite" in done.text
        assert {
            p.state
            for p in console.world.engine.find("proposal", parent_id=CALL_ID, state="integration_requested")
        }
        assert len(list(console.world.engine.events())) == before + 2


class TestMeasuresAuditScheduler:
    def test_audit_page_says_the_chain_is_intact_and_exports(self, console: Console) -> None:
        console.sign_in("auditor")
        assert "Catena integra" in console.client.get("/console/audit").text
        assert "nessun evento illegittimo" in console.client.get("/console/audit?replay=1").text
        export = console.client.get("/console/audit/export")
        assert len(export.text.strip().splitlines()) == len(list(console.world.engine.events()))

    def test_activity_filters_by_actor(self, console: Console) -> None:
        console.sign_in("auditor")
        page = console.client.get("/console/activity", params={"actor": "capofila.beta"}).text
        assert "capofila.alfa" not in page
        assert "capofila.beta" in page

    def test_scheduler_page_lists_the_close_job(self, console: Console) -> None:
        console.sign_in("operator")
        page = console.client.get("/console/scheduler").text
        assert "31/12/2022 16:00:00" in page


def test_every_label_of_the_templates_is_translated_to_italian() -> None:
    root = Path(__file__).parents[2] / "workflow" / "http" / "console" / "templates"
    used = set()
    for template in root.glob("*.html"):
        used |= set(re.findall(r'_\("([^"]+)"\)', template.read_text(encoding="utf-8")))
        used |= set(re.findall(r"_\('([^']+)'\)", template.read_text(encoding="utf-8")))
    italian = translations("it").messages
    assert sorted(label for label in used if label not in italian) == []


@pytest.mark.slow
def test_the_demo_database_opens_in_the_console_with_the_key_the_demo_prints(tmp_path: Path) -> None:
    import subprocess
    import sys

    from workflow.engine import Engine

    db = tmp_path / "demo.db"
    filiere = str(Path(sys.executable).parent / "filiere")
    out = subprocess.run(
        [filiere, "demo", "--db-file", str(db)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    secret = re.search(r"operator key (fk_\S+)", out).group(1)  # type: ignore[union-attr]
    engine = Engine(f"sqlite:///{db}")
    try:
        with TestClient(create_app(engine), follow_redirects=False) as client:
            token = CSRF.search(client.get("/console/login").text).group(1)  # type: ignore[union-attr]
            assert client.post("/console/login", data={"csrf": token, "key": secret}).status_code == 303
            assert "MI-FILIERE-2022" in client.get("/console/calls").text
            assert "Graduatoria" in client.get("/console/measures/FILIERE-2022").text
            assert "Ordine di arrivo" in client.get("/console/measures/FILIERE-2024").text
    finally:
        engine.db.dispose()


def test_the_scheduler_page_names_the_leader(console: Console) -> None:
    """Which process schedules: none, then the one holding the SQLite lock (its pid)."""
    import os

    from scheduler.leader import leader_for

    console.sign_in("operator")
    assert "nessuno scheduler detiene" in console.client.get("/console/scheduler").text
    leader = leader_for(console.world.engine)
    leader.acquire(wait=False)
    try:
        page = console.client.get("/console/scheduler").text
        assert f"process {os.getpid()}" in page
    finally:
        leader.release()
