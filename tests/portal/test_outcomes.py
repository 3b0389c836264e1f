"""Outcomes organisers record, over HTTP on a real uvicorn server and the test organisation's
snapshot: one by the list page's form, many by uploading the filled-in download (CSV or
XLSX). Bad values are refused (by row in an upload) with a reason that never repeats the
value, good rows are recorded, other teams' people and lists answer 404 or are refused by
row, the same upload twice records nothing new, and each recording is audited."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import date

import pytest
import requests
from openpyxl import load_workbook

from portal import outcomes
from portal.app import create_app
from portal.store import NewOutcome, Store
from tests.portal.conftest import CHEAP_HASHER, Clock, Portal, csrf_of, signed_in_browser
from tests.portal.organisation import NORTH, Organisation, built

NORTH_URL = "/teams/North%20Austin"
EAST_URL = "/teams/East%20Austin"
MAIL = f"{NORTH_URL}/lists/mail"  # North Austin's part: p-ana and p-cy (p-bo opted out)
CALL = f"{NORTH_URL}/lists/call"  # p-ana, p-bo and p-cy
SOON = "2026-12-05"  # the test clock is at 2026-11-30 12:00 UTC
PAST = "2026-11-28"
# Values no message may repeat.
SECRET_WORD = "maybe_laterzz"
SECRET_DATE = "next tuesdayzz"
LONG_NOTE = "q" * 10_000


@pytest.fixture
def org(tmp_path_factory) -> Organisation:
    return built(tmp_path_factory)


@pytest.fixture
def site(org, portal_server: Callable, portal_settings) -> Portal:
    app = create_app(
        portal_settings,
        clock=Clock(),
        teams_file=org.teams_file,
        snapshot=org.snapshot,
        hasher=CHEAP_HASHER,
    )
    return Portal(portal_server(app), app, app.state.auth.clock, org.teams_file)


@pytest.fixture
def north(site) -> requests.Session:
    return signed_in_browser(site, "north@example.org")


def store_of(site: Portal) -> Store:
    return site.store


def record(site: Portal, browser: requests.Session, list_path: str, **fields: str):
    """Post the list page's outcome form (with the page's CSRF token)."""
    page = browser.get(site.url + list_path)
    token = csrf_of(page) if page.status_code == 200 else csrf_of(browser.get(site.url + MAIL))
    return browser.post(
        site.url + list_path + "/outcomes",
        data={"csrf_token": token, "page": "1", **fields},
        allow_redirects=False,
    )


def upload(site: Portal, browser: requests.Session, list_path: str, name: str, body: bytes):
    token = csrf_of(browser.get(site.url + MAIL))
    return browser.post(
        site.url + list_path + "/upload",
        data={"csrf_token": token},
        files={"file": (name, body)},
        allow_redirects=False,
    )


def csv_bytes(rows: list[list[str]]) -> bytes:
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    return text.getvalue().encode("utf-8")


def refusals(page: str) -> dict[int, str]:
    """Row number -> reason, from the upload result's table."""
    table = page[page.index('class="upload-refusals"') :] if "upload-refusals" in page else ""
    found = re.findall(r'<tr><td class="number">(\d+)</td><td>([^<]*)</td></tr>', table)
    return {int(n): reason.replace("&#39;", "'") for n, reason in found}


def recorded_count(page: str) -> int:
    return int(re.search(r'class="upload-recorded">([\d,]+)<', page).group(1).replace(",", ""))


# ------------------------------------------------------------------------------ the page


def test_an_outcome_recorded_on_the_page_is_kept_shown_and_audited_once(site, north):
    answer = record(
        site,
        north,
        CALL,
        person_id="p-bo",
        outcome="said_yes",
        follow_up=SOON,
        note="  Hosts in Dec  ",
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(CALL + "?page=1")
    [row] = store_of(site).outcomes()
    assert (row.organiser, row.team, row.list_name, row.person_id) == (
        "north@example.org",
        NORTH,
        "call",
        "p-bo",
    )
    assert (row.outcome, row.follow_up, row.note, row.via) == (
        "said_yes",
        date(2026, 12, 5),
        "Hosts in Dec",  # stripped
        "page",
    )
    page = north.get(site.url + answer.headers["location"]).text
    assert "The outcome was recorded." in page
    bo = page[page.index("/people/p-bo") :]
    assert (
        "Said yes" in bo[: bo.index("</tr>")] and "follow up 2026-12-05" in bo[: bo.index("</tr>")]
    )
    assert "Never write sensitive details: health, immigration status" in page
    # The same outcome again records nothing new and is not audited twice.
    again = record(
        site, north, CALL, person_id="p-bo", outcome="said_yes", follow_up=SOON, note="Hosts in Dec"
    )
    assert again.status_code == 303
    assert len(store_of(site).outcomes()) == 1
    events = site.store.audit_events(event="outcome")
    assert [(e.actor, e.team, e.list_name, e.person_id) for e in events] == [
        ("north@example.org", NORTH, "call", "p-bo")
    ]
    # A different outcome for the same person is a new one (called again later).
    assert record(site, north, CALL, person_id="p-bo", outcome="reached").status_code == 303
    assert [r.outcome for r in store_of(site).outcomes(person_id="p-bo")] == ["said_yes", "reached"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"outcome": SECRET_WORD}, "outcome is not one of reached, not_reached, said_yes"),
        ({"outcome": ""}, "outcome is not one of"),
        ({"outcome": "said_yes", "follow_up": PAST}, "follow_up is in the past"),
        ({"outcome": "said_yes", "follow_up": SECRET_DATE}, "follow_up is not a date"),
        (
            {"outcome": "said_no", "follow_up": SOON},
            "follow_up is only for said_yes or reached: leave it empty for other outcomes",
        ),
        ({"outcome": "reached", "note": LONG_NOTE}, "note is longer than 500 characters"),
    ],
)
def test_a_bad_value_on_the_page_is_refused_and_nothing_recorded(site, north, fields, reason):
    assert record(site, north, CALL, person_id="p-ana", outcome="reached").status_code == 303
    answer = record(site, north, CALL, person_id="p-cy", **fields)
    assert answer.status_code == 400
    assert "was not recorded: " + reason in answer.text
    assert 'for <a href="#person-3">row 3 of this page</a>' in answer.text  # Cole's row
    for value in (SECRET_WORD, SECRET_DATE, "q" * 20):
        assert value not in answer.text
    assert [r.person_id for r in store_of(site).outcomes()] == ["p-ana"]  # the good one kept


def test_the_page_form_refuses_other_teams_and_people_not_on_the_list_with_404(site, north):
    for path, person in (
        (CALL, "p-dee"),  # East Austin's
        (CALL, "p-gus"),  # in no team
        (CALL, "no-such-person"),
        (MAIL, "p-bo"),  # North Austin's, not on the mail list (opted out of email)
        (f"{EAST_URL}/lists/call", "p-dee"),  # another team's list
        (f"{NORTH_URL}/lists/no_such_list", "p-ana"),
        (CALL, ""),
    ):
        answer = record(site, north, path, person_id=person, outcome="reached")
        assert answer.status_code == 404, (path, person)
        assert "not yours to see" in answer.text
    assert store_of(site).outcomes() == []
    assert site.store.audit_events(event="outcome") == []


def test_a_post_without_its_csrf_token_is_refused(site, north):
    answer = north.post(
        site.url + CALL + "/outcomes",
        data={"person_id": "p-ana", "outcome": "reached"},
        allow_redirects=False,
    )
    assert answer.status_code == 403
    answer = north.post(
        site.url + MAIL + "/upload",
        data={"csrf_token": "forged"},
        files={"file": ("o.csv", csv_bytes([["person_id", "outcome"], ["p-ana", "reached"]]))},
        allow_redirects=False,
    )
    assert answer.status_code == 403
    assert store_of(site).outcomes() == []


# ---------------------------------------------------------------------------- uploads


def test_an_upload_records_good_rows_and_refuses_bad_ones_by_row(site, north):
    rows = [
        ["given_name", "person_id", "outcome", "follow_up", "note"],
        ["Ana", "p-ana", "said_yes", SOON, "Will host"],  # 2: recorded
        ["", "p-cy", SECRET_WORD, "", ""],  # 3
        ["", "p-cy", "said_yes", PAST, ""],  # 4
        ["", "p-cy", "said_yes", SECRET_DATE, ""],  # 5
        ["", "p-cy", "said_no", SOON, ""],  # 6
        ["", "p-cy", "reached", "", LONG_NOTE],  # 7
        ["", "p-bo", "reached", "", ""],  # 8: North's, not on the mail list
        ["", "p-dee", "reached", "", ""],  # 9: East's
        ["", "p-gus", "reached", "", ""],  # 10: in no team
        ["", "", "reached", "", ""],  # 11
        ["", "p-cy", "", "", ""],  # 12: not filled in, left alone
        ["", "p-cy", "", "", "a note"],  # 13
    ]
    answer = upload(site, north, MAIL, "mail.csv", csv_bytes(rows))
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert recorded_count(page) == 1
    assert "1 row has no outcome and was left alone" in page
    assert refusals(page) == {
        3: "outcome is not one of " + ", ".join(outcomes.OUTCOMES),
        4: "follow_up is in the past: give today's date or a later one",
        5: "follow_up is not a date: write it as YYYY-MM-DD",
        6: "follow_up is only for said_yes or reached: leave it empty for other outcomes",
        7: "note is longer than 500 characters: shorten it",
        8: "this person is not on North Austin's part of this list",
        9: "person_id is not known among the people of your teams",
        10: "person_id is not known among the people of your teams",
        11: "person_id is empty: keep the person_id column of the downloaded file",
        13: "outcome is empty but follow_up or note is filled: choose an outcome",
    }
    for value in (SECRET_WORD, SECRET_DATE, "q" * 20, "p-dee", "p-gus", "Will host"):
        assert value not in page
    [row] = store_of(site).outcomes()
    assert (row.person_id, row.outcome, row.follow_up, row.note, row.via) == (
        "p-ana",
        "said_yes",
        date(2026, 12, 5),
        "Will host",
        "upload",
    )
    [event] = site.store.audit_events(event="outcome_upload")
    assert (event.actor, event.team, event.list_name, event.rows) == (
        "north@example.org",
        NORTH,
        "mail",
        1,
    )


def test_a_person_on_two_rows_with_different_outcomes_has_both_refused(site, north):
    rows = [
        ["person_id", "outcome"],
        ["p-bo", "reached"],
        ["p-cy", "said_no"],
        ["p-bo", "said_no"],
        ["p-ana", "reached"],
        ["p-ana", " Reached "],  # the same outcome twice (typed by hand): one outcome
    ]
    page = upload(site, north, CALL, "call.csv", csv_bytes(rows)).text
    assert refusals(page) == {
        2: "the same person_id is on rows 2, 4 with different outcomes: keep one row per person",
        4: "the same person_id is on rows 2, 4 with different outcomes: keep one row per person",
    }
    assert recorded_count(page) == 2
    assert sorted((r.person_id, r.outcome) for r in store_of(site).outcomes()) == [
        ("p-ana", "reached"),
        ("p-cy", "said_no"),
    ]


def test_the_same_upload_twice_records_nothing_new(site, north):
    body = csv_bytes(
        [["person_id", "outcome", "note"], ["p-ana", "reached", "ok"], ["p-cy", "said_no", ""]]
    )
    first = upload(site, north, MAIL, "mail.csv", body)
    assert recorded_count(first.text) == 2
    second = upload(site, north, MAIL, "mail.csv", body)
    assert second.status_code == 200
    assert recorded_count(second.text) == 0
    assert "2 rows were recorded before: nothing new" in second.text
    assert len(store_of(site).outcomes()) == 2
    events = site.store.audit_events(event="outcome_upload")
    assert [e.rows for e in reversed(events)] == [2, 0]


def test_the_downloaded_workbook_has_a_drop_down_and_comes_back_filled_in(site, north):
    answer = north.get(site.url + MAIL + ".xlsx")
    book = load_workbook(io.BytesIO(answer.content))
    sheet = book.active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[-4:] == ["person_id", "outcome", "follow_up", "note"]
    [choices] = sheet.data_validations.dataValidation
    assert choices.type == "list"
    assert choices.formula1 == '"' + ",".join(outcomes.OUTCOMES) + '"'
    outcome_col = sheet.cell(row=1, column=header.index("outcome") + 1).column_letter
    assert str(choices.sqref) == f"{outcome_col}2:{outcome_col}3"  # the two people's rows
    ids = {sheet.cell(row=r, column=header.index("person_id") + 1).value: r for r in (2, 3)}
    assert set(ids) == {"p-ana", "p-cy"}
    sheet.cell(row=ids["p-ana"], column=header.index("outcome") + 1, value="said_yes")
    sheet.cell(row=ids["p-ana"], column=header.index("follow_up") + 1, value=date(2026, 12, 5))
    sheet.cell(row=ids["p-cy"], column=header.index("outcome") + 1, value="wrong_number")
    filled = io.BytesIO()
    book.save(filled)
    page = upload(site, north, MAIL, "mail-north-austin.xlsx", filled.getvalue()).text
    assert recorded_count(page) == 2 and refusals(page) == {}
    assert sorted((r.person_id, r.outcome, r.follow_up) for r in store_of(site).outcomes()) == [
        ("p-ana", "said_yes", date(2026, 12, 5)),
        ("p-cy", "wrong_number", None),
    ]
    # Renamed outcome column: the whole workbook is refused, naming the column.
    sheet.cell(row=1, column=header.index("outcome") + 1, value="result")
    sheet.cell(row=ids["p-cy"], column=header.index("person_id") + 1, value="p-ana")
    renamed = io.BytesIO()
    book.save(renamed)
    answer = upload(site, north, MAIL, "mail.xlsx", renamed.getvalue())
    assert answer.status_code == 400
    assert "The first row has no column named outcome" in answer.text
    assert "Nothing was recorded" in answer.text
    assert len(store_of(site).outcomes()) == 2


def test_the_csv_download_comes_back_filled_in(site, north):
    rows = list(csv.reader(io.StringIO(north.get(site.url + MAIL + ".csv").text, newline="")))
    header = rows[0]
    for row, word in zip(rows[1:], ("Not reached", "do-not-contact"), strict=True):
        row[header.index("outcome")] = word  # as typed by hand
    page = upload(site, north, MAIL, "mail.csv", csv_bytes(rows)).text
    assert recorded_count(page) == 2
    assert {r.outcome for r in store_of(site).outcomes()} == {"not_reached", "do_not_contact"}


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("o.xlsx", b"PK\x03\x04 not really a zip", "could not be read as an Excel workbook"),
        ("o.csv", b"\xff\xfe\x00bad", "nor a CSV in UTF-8"),
        ("o.csv", b"", "The file is empty"),
        (
            "o.csv",
            csv_bytes([["person_id", "result"], ["p-ana", "reached"]]),
            "no column named outcome",
        ),
        (
            "o.csv",
            csv_bytes([["id", "outcome"], ["p-ana", "reached"]]),
            "no column named person_id",
        ),
        (
            "o.csv",
            csv_bytes([["person_id", "outcome", "outcome"], ["p-ana", "reached", "said_no"]]),
            "names the column outcome twice",
        ),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(site, north, name, body, message):
    answer = upload(site, north, MAIL, name, body)
    assert answer.status_code == 400
    assert "The file was not accepted" in answer.text and message in answer.text
    assert store_of(site).outcomes() == []


def test_an_upload_to_another_teams_list_answers_404_and_a_huge_file_is_refused(site, north):
    body = csv_bytes([["person_id", "outcome"], ["p-dee", "reached"]])
    assert upload(site, north, f"{EAST_URL}/lists/call", "o.csv", body).status_code == 404
    assert upload(site, north, f"{NORTH_URL}/lists/nope", "o.csv", body).status_code == 404
    huge = csv_bytes([["person_id", "outcome"]]) + b"p-ana,reached\n" * 400_000  # > 5 MB
    answer = upload(site, north, MAIL, "o.csv", huge)
    assert answer.status_code == 413
    assert store_of(site).outcomes() == []
    with pytest.raises(outcomes.UploadRefused, match="larger than 5 MB") as refused:
        outcomes.read_table("o.csv", huge)
    assert refused.value.status == 413


def test_the_store_records_by_row_key_and_reads_back_in_order(tmp_path):
    store = Store(tmp_path / "portal.db")
    assert store.version() == 2
    now = Clock().now
    items = [
        NewOutcome("p-1", "said_yes", date(2026, 12, 5), "n|x"),
        NewOutcome("p-1", "said_yes", date(2026, 12, 5), "n"),  # differs only in the note
        NewOutcome("p-2", "do_not_contact"),
    ]
    assert store.record_outcomes(now, "a@example.org", "T", "l", items, "upload") == items
    assert store.record_outcomes(now, "a@example.org", "T", "l", items, "upload") == []
    # Another organiser recording the same is a separate outcome.
    assert len(store.record_outcomes(now, "b@example.org", "T", "l", items[2:], "page")) == 1
    rows = store.outcomes()
    assert [r.id for r in rows] == sorted(r.id for r in rows) and len(rows) == 4
    assert [r.person_id for r in store.outcomes(after_id=rows[1].id)] == ["p-2", "p-2"]
    latest = store.latest_outcomes("T", "l", ["p-1", "p-2", "p-9"])
    assert latest["p-1"].note == "n" and latest["p-2"].organiser == "b@example.org"
    assert "p-9" not in latest
    assert store.forget_outcomes(["p-1", "p-9"]) == 2
    assert [r.person_id for r in store.outcomes()] == ["p-2", "p-2"]
