"""The console in Debian's Chromium, driven by Playwright: what an operator and an auditor do.

Each page is also checked with axe-core for serious or critical accessibility
violations (WCAG 2.1 AA is required of Italian public administrations), and
the main pages are photographed into ``docs/console/`` for ``docs/console.md``.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.browser.conftest import AXE, SHOTS, Site

pytestmark = pytest.mark.slow
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def sign_in(page: Any, site: Site, role: str = "operator") -> None:
    page.goto(f"{site.url}/console/login")
    page.fill("#key", site.keys[role])
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.url}/console/calls")


def accessible(page: Any) -> None:
    """No serious or critical violation of WCAG 2.1 A/AA on the page as it stands."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))",
        WCAG,
    )
    assert [v for v in found if v["impact"] in ("serious", "critical")] == []


def shot(page: Any, name: str) -> None:
    """Photograph the page for the docs (only when asked: the committed pictures stay put)."""
    if os.environ.get("FILIERE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def test_sign_in_with_a_key(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/console/calls")
    assert page.url.startswith(f"{site.url}/console/login")
    accessible(page)
    shot(page, "login")
    sign_in(page, site)
    assert page.locator("h1").inner_text() == "Bandi"
    assert "31/12/2022 16:00:00" in page.content()
    accessible(page)
    shot(page, "calls")


def test_filter_proposals_and_export_csv(page: Any, site: Site) -> None:
    sign_in(page, site)
    page.goto(f"{site.url}/console/entities?kind=proposal")
    page.select_option("#f-state", "submitted")
    page.click("form[aria-label='Filtri'] button[type=submit]")
    assert page.locator("#count").inner_text() == "3 trovati"
    accessible(page)
    shot(page, "proposals")
    with page.expect_download() as download:
        page.click("#csv-export")
    rows = download.value.path().read_text(encoding="utf-8").strip().splitlines()
    assert [r.split(";")[1] for r in rows[1:]] == ["submitted"] * 3


def test_open_a_proposal_and_read_its_timeline(page: Any, site: Site) -> None:
    sign_in(page, site)
    page.goto(f"{site.url}/console/entities?kind=proposal")
    page.click("text=P-000001")
    assert page.locator("#state").inner_text() == "presentata"
    timeline = page.locator("#timeline tbody tr")
    assert timeline.count() == 2
    assert "presenta" in timeline.nth(1).inner_text()
    assert page.locator("svg.machine-diagram").count() == 1
    accessible(page)
    shot(page, "proposal")


def test_a_bad_due_date_is_refused_next_to_its_field(page: Any, site: Site) -> None:
    sign_in(page, site)
    page.goto(f"{site.url}/console/entities/proposal/P-000002")
    form = page.locator("#form-request_integration")
    form.locator("textarea[name=reason], input[name=reason]").fill("Manca il bilancio")
    form.locator("input[name=due]").fill("2022-09-01T12:00:00")
    form.locator("button[type=submit]").click()
    error = page.locator("#request_integration-due-error")
    assert error.is_visible()
    assert "due" in error.inner_text() or "scadenza" in error.inner_text().lower() or error.inner_text()
    assert site.world.engine.get("proposal", "P-000002").state == "submitted"
    accessible(page)
    shot(page, "refusal")


def test_a_bulk_action_with_preview(page: Any, site: Site) -> None:
    sign_in(page, site)
    page.goto(f"{site.url}/console/entities?kind=proposal&state=submitted")
    page.select_option("#bulk-trigger", "request_integration")
    page.click("#bulk-next")
    page.fill("#bulk-reason", "Manca l'analisi SWOT")
    page.fill("#bulk-due", "2022-10-20T12:00:00")
    events = len(list(site.world.engine.events()))
    page.click("#bulk-preview")
    assert "3 verrebbero eseguite" in page.locator("#bulk-count").inner_text()
    assert len(list(site.world.engine.events())) == events
    accessible(page)
    shot(page, "bulk-preview")
    page.click("#bulk-confirm")
    assert "3 eseguite" in page.locator("#bulk-count").inner_text()
    assert (
        len(site.world.engine.find("proposal", parent_id="MI-FILIERE-2022", state="integration_requested"))
        == 3
    )


def test_an_auditor_sees_no_forms_and_a_forged_post_gets_403(page: Any, site: Site) -> None:
    sign_in(page, site, "auditor")
    page.goto(f"{site.url}/console/entities/proposal/P-000003")
    assert page.locator("form[action$='/fire']").count() == 0
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = page.request.post(
        f"{site.url}/console/entities/proposal/P-000003/fire",
        form={"csrf": token, "trigger": "declare_inadmissible", "reason": "forged"},
    )
    assert answer.status == 403
    page.goto(f"{site.url}/console/audit")
    assert "Catena integra" in page.locator("#chain-status").inner_text()
    accessible(page)
    shot(page, "audit")


def test_switch_to_english(page: Any, site: Site) -> None:
    sign_in(page, site)
    page.click("a[lang=en]")
    assert page.locator("h1").inner_text() == "Calls"
    assert page.locator("html").get_attribute("lang") == "en"
    accessible(page)


@pytest.mark.parametrize("path", ["/console/activity", "/console/scheduler", "/console/measures/none"])
def test_other_pages_are_accessible(page: Any, site: Site, path: str) -> None:
    sign_in(page, site)
    page.goto(f"{site.url}{path}")
    accessible(page)
