"""Recording outcomes in a real browser (Playwright driving Debian's chromium) on the test
organisation's snapshot: one by the list page's form, then more by downloading the list as
Excel, filling its outcome column (a drop-down in the workbook) with openpyxl and
uploading it; a file with bad rows shows them refused by row. Screenshots are kept in
tests/artifacts/portal_outcomes/ (not committed)."""

from __future__ import annotations

import io
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.portal.conftest import (
    ARTIFACTS,
    CHROMIUM,
    NO_CHROMIUM,
    Portal,
    accept_invitation,
    data_portal,
    screenshot,
)
from tests.portal.organisation import Organisation, built

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)
FOLDER = "portal_outcomes"
CALL = "/teams/North%20Austin/lists/call"


@pytest.fixture(scope="module", autouse=True)
def _fresh_artifacts():
    shutil.rmtree(ARTIFACTS / FOLDER, ignore_errors=True)


@pytest.fixture
def org(tmp_path_factory) -> Organisation:
    return built(tmp_path_factory)


@pytest.fixture
def site(org, portal_server, portal_settings) -> Portal:
    # The clock reads 2026-11-30 12:00 UTC.
    return data_portal(portal_server, portal_settings, org.teams_file, org.snapshot)


def _shot(page, name: str, full_page: bool = True) -> None:
    screenshot(page, FOLDER, name, full_page)


def _invited(page, site: Portal, email: str) -> None:
    accept_invitation(page, site.path_of(site.auth.invite(email)), email)


def _row(page, name: str):
    return page.locator("table.pages-members tbody tr", has_text=name)


def _upload(page, path: Path) -> None:
    page.set_input_files("#outcome-file", str(path))
    page.click("form.outcome-upload button[type=submit]")
    page.wait_for_url(re.compile(r"/upload$"))


def test_an_organiser_records_outcomes_by_the_page_and_by_upload(page, site, tmp_path):
    _invited(page, site, "north@example.org")
    page.goto(site.url + CALL)
    assert "Never write sensitive details" in page.locator(".outcome-warning").inner_text()

    # By the page: Bo said yes, with a follow-up date and a note.
    bo = _row(page, "Bo Brown")
    bo.locator("summary").click()
    bo.locator("select[name=outcome]").select_option("said_yes")
    bo.locator("input[name=follow_up]").fill("2026-12-05")
    bo.locator("textarea[name=note]").fill("Will host in December")
    _shot(page, "1_form_open", full_page=False)
    bo.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(re.escape(CALL) + r"\?page=1&recorded=1$"))
    assert page.locator(".notice").inner_text() == "The outcome was recorded."
    assert "Said yes" in _row(page, "Bo Brown").inner_text()
    assert "follow up 2026-12-05" in _row(page, "Bo Brown").inner_text()
    _shot(page, "2_recorded")
    [row] = site.store.outcomes()
    assert (row.person_id, row.outcome, row.follow_up, row.note, row.via) == (
        "p-bo",
        "said_yes",
        date(2026, 12, 5),
        "Will host in December",
        "page",
    )

    # A refused value says why, on the list page.
    cy = _row(page, "Cole")
    cy.locator("summary").click()
    cy.locator("select[name=outcome]").select_option("said_no")
    cy.locator("input[name=follow_up]").fill("2026-12-05")
    cy.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "follow_up is only for said_yes or reached" in page.locator(".error").inner_text()
    _shot(page, "3_refused_on_the_page", full_page=False)
    assert len(site.store.outcomes()) == 1

    # By upload: the downloaded workbook, its outcome column filled in (a drop-down).
    page.goto(site.url + CALL)
    with page.expect_download() as info:
        page.click(f"a[href='{CALL}.xlsx']")
    book = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()))  # saved unsuffixed
    sheet = book.active
    header = [c.value for c in sheet[1]]
    assert header[-3:] == ["outcome", "follow_up", "note"]
    assert sheet.data_validations.dataValidation[0].type == "list"
    by_id = {sheet.cell(row=r, column=1).value: r for r in range(2, sheet.max_row + 1)}
    outcome = header.index("outcome") + 1
    sheet.cell(row=by_id["p-ana"], column=outcome, value="reached")
    sheet.cell(row=by_id["p-cy"], column=outcome, value="do_not_contact")
    filled = tmp_path / "call-north-austin.xlsx"
    book.save(filled)
    _upload(page, filled)
    assert page.locator("h1").inner_text() == "Outcomes uploaded"
    assert page.locator(".upload-recorded").inner_text() == "2"
    assert page.locator(".upload-refused").inner_text() == "0"
    _shot(page, "4_uploaded")
    assert sorted((r.person_id, r.outcome, r.via) for r in site.store.outcomes()) == [
        ("p-ana", "reached", "upload"),
        ("p-bo", "said_yes", "page"),
        ("p-cy", "do_not_contact", "upload"),
    ]

    # The same workbook again records nothing new; bad rows are refused by row number.
    sheet.cell(row=by_id["p-bo"], column=outcome, value="maybe")
    sheet.cell(row=by_id["p-bo"], column=header.index("follow_up") + 1, value="soon")
    book.save(filled)
    page.goto(site.url + CALL)
    _upload(page, filled)
    assert page.locator(".upload-recorded").inner_text() == "0"
    refused = page.locator("table.upload-refusals tbody tr")
    assert refused.count() == 1
    assert refused.first.inner_text().startswith(str(by_id["p-bo"]))
    assert "outcome is not one of" in refused.first.inner_text()
    assert "maybe" not in page.content()
    _shot(page, "5_upload_refused_rows")
    assert len(site.store.outcomes()) == 3

    # The list shows each person's latest outcome; on a phone, the form fits a card.
    page.goto(site.url + CALL)
    assert "Do not contact" in _row(page, "Cole").inner_text()
    page.set_viewport_size({"width": 390, "height": 800})
    _row(page, "Ana").locator("summary").click()
    _shot(page, "6_list_phone")
    assert page.problems == []
    events = [e.event for e in site.store.audit_events()]
    assert events.count("outcome") == 1 and events.count("outcome_upload") == 2
