"""Issue 12, item 1: sign-in sheets and other exports without an email or phone load; a
file is refused only when it has neither a name nor a contact column, and the refusal
says what was recognised and what is needed; a name or postal column holding emails or
phones is not loaded as that field. Through the reader, the landing and staging."""

import json
from pathlib import Path

import openpyxl
import pytest

from connectors.forms.landing import land_form_exports
from connectors.forms.reader import FormExportError, read_form_export
from connectors.forms.spreadsheets import read_workbook
from transforms.normalise import build_staging

PAPER = (
    "First name,Last name,Address,City,State,Postcode\n"
    "Ottoline,Fairweather,12 Harbour St,Springfield,IL,62701\n"
    "Percival,Quennell,4 Mill Rd,Springfield,IL,62702\n"
)
# Values that must never appear in a message.
NEVER_SAID = (
    "Ottoline", "Fairweather", "Harbour", "Springfield", "Percival", "Quennell", "Mill",
    "Rosalind", "Stroud", "Tamsin", "example.org", "62701", "555",
)  # fmt: skip


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def leaks(text: str) -> list[str]:
    return [value for value in NEVER_SAID if value in text]


def test_typed_up_paper_sign_in_sheet_loads(tmp_path):
    # Before: "no email or name column was recognised" and every person was lost.
    export = read_form_export(write(tmp_path, "paper.csv", PAPER))
    assert export.layout == "sign_in_sheet" and not export.problems
    assert [r.fields for r in export.rows] == [
        {
            "given_name": "Ottoline",
            "family_name": "Fairweather",
            "address": "12 Harbour St",
            "locality": "Springfield",
            "region": "IL",
            "postal_code": "62701",
        },
        {
            "given_name": "Percival",
            "family_name": "Quennell",
            "address": "4 Mill Rd",
            "locality": "Springfield",
            "region": "IL",
            "postal_code": "62702",
        },
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Name,Street address,Suburb,Postcode\nOttoline Fairweather,12 Harbour St,Springfield,2000\n",
        "Full name\nOttoline Fairweather\n",
        "Name\nOttoline Fairweather\n",
    ],
)
def test_a_single_name_column_loads(tmp_path, text):
    export = read_form_export(write(tmp_path, "names.csv", text))
    assert export.layout == "sign_in_sheet"
    assert [r.fields["full_name"] for r in export.rows] == ["Ottoline Fairweather"]


def test_names_only_sheet_keeps_rows_with_only_a_name(tmp_path):
    text = "First name,Last name\nOttoline,Fairweather\nPercival,\n,Quennell\n,\n"
    export = read_form_export(write(tmp_path, "names_only.csv", text))
    assert export.layout == "sign_in_sheet" and not export.problems and not export.warnings
    # Every row with a name loads (identity decides what it joins); the blank line is no row.
    assert [(r.row_number, r.fields) for r in export.rows] == [
        (1, {"given_name": "Ottoline", "family_name": "Fairweather"}),
        (2, {"given_name": "Percival", "family_name": ""}),
        (3, {"given_name": "", "family_name": "Quennell"}),
    ]


def test_a_name_only_row_beside_full_rows_all_load(tmp_path):
    text = (
        "First name,Last name,Email,Phone,Address,Postcode\n"
        "Rosalind,Stroud,rosalind@example.org,2025550143,1 Main St,20009\n"
        "Ottoline,Fairweather,,,,\n"
        "Tamsin,Upjohn,tamsin@example.org,,,\n"
    )
    export = read_form_export(write(tmp_path, "mixed.csv", text))
    assert export.layout == "plain" and not export.problems and not export.warnings
    assert [(r.row_number, r.fields["given_name"], r.fields["email"]) for r in export.rows] == [
        (1, "Rosalind", "rosalind@example.org"),
        (2, "Ottoline", ""),
        (3, "Tamsin", "tamsin@example.org"),
    ]


def test_a_contact_column_without_names_loads(tmp_path):
    export = read_form_export(write(tmp_path, "list.csv", "Email,Postcode\nr@example.org,20009\n"))
    assert export.layout == "plain" and export.rows[0].fields["email"] == "r@example.org"


def test_neither_names_nor_contacts_is_refused_naming_what_was_found_and_needed(tmp_path):
    text = "Address,City,State,Postcode,Signature\n12 Harbour St,Springfield,IL,62701,OF\n"
    with pytest.raises(FormExportError) as caught:
        read_form_export(write(tmp_path, "addresses.csv", text))
    message = str(caught.value)
    assert message.startswith("addresses.csv: unknown header layout: among the 5 column headers")
    assert "neither a name column nor an email or phone column was recognised" in message
    assert (
        "(recognised: column 1 as address, column 2 as locality, column 3 as region, "
        "column 4 as postal_code)" in message
    )
    assert (
        "A file needs a name column (First name, Last name, Full name or Name) or an email "
        "or phone column" in message
    )
    assert "column_maps" in message and "FORMS_CONFIG" in message and "re-export" in message
    assert not leaks(message)
    # Before: "no email or phone column, or no name column" (it had both rules wrong).
    assert "or no name column" not in message


def test_a_file_recognising_nothing_says_so(tmp_path):
    with pytest.raises(FormExportError, match=r"\(recognised: none\)"):
        read_form_export(write(tmp_path, "odd.csv", "colour,size\nred,9\n"))


def test_a_headerless_sign_in_sheet_is_taken_for_a_person_not_headers(tmp_path):
    # No email or phone on line 1, but a street address: still a person, never repeated.
    text = (
        "Ottoline,Fairweather,12 Harbour St,Springfield,IL,62701\nPercival,Quennell,4 Mill Rd,,,\n"
    )
    with pytest.raises(FormExportError) as caught:
        read_form_export(write(tmp_path, "no_header.csv", text))
    message = str(caught.value)
    assert "line 1 looks like a person's details, not column headers (column 3" in message
    assert not leaks(message)


def test_the_first_line_holding_an_email_or_a_phone_is_still_a_person(tmp_path):
    for first in ("Ottoline,Fairweather,o@example.org", "Ottoline,Fairweather,+1 202 555 0143"):
        with pytest.raises(FormExportError, match="line 1 looks like a person's details") as caught:
            read_form_export(write(tmp_path, "no_header.csv", first + "\nPercival,Quennell,x\n"))
        assert not leaks(str(caught.value))


def test_a_postcode_column_holding_emails_becomes_the_email_when_there_is_none(tmp_path):
    text = (
        "First name,Last name,Postcode\n"
        "Rosalind,Stroud,rosalind@example.org\n"
        "Tamsin,Upjohn,tamsin@example.org\n"
        "Ottoline,Fairweather,62701\n"  # a real postcode stays the postcode
    )
    export = read_form_export(write(tmp_path, "shifted.csv", text))
    assert [r.fields for r in export.rows] == [
        {"given_name": "Rosalind", "family_name": "Stroud", "email": "rosalind@example.org"},
        {"given_name": "Tamsin", "family_name": "Upjohn", "email": "tamsin@example.org"},
        {"given_name": "Ottoline", "family_name": "Fairweather", "postal_code": "62701"},
    ]
    assert export.columns["email"] == "Postcode"
    [note] = export.warnings
    assert note.startswith(
        "column 'Postcode' was read as postal_code, but 2 of its 3 filled values are email "
        "addresses: none of them was loaded as postal_code; 2 became the row's email (the "
        "row had none) and 0 stayed only among the answers"
    )
    assert "Correct the column's header" in note and "column_maps" in note
    assert not leaks(note)
    # Every answer is still kept as it was typed.
    assert export.rows[0].answers["Postcode"] == "rosalind@example.org"


def test_a_postcode_column_holding_emails_beside_an_email_column_is_not_loaded(tmp_path):
    text = (
        "First name,Email,Postcode\n"
        "Rosalind,rosalind@example.org,rosalind@example.org\n"
        "Tamsin,tamsin@example.org,tamsin@work.example\n"
    )
    export = read_form_export(write(tmp_path, "shifted.csv", text))
    assert [r.fields for r in export.rows] == [
        {"given_name": "Rosalind", "email": "rosalind@example.org"},
        {"given_name": "Tamsin", "email": "tamsin@example.org"},
    ]
    assert export.rows[1].answers["Postcode"] == "tamsin@work.example"
    [note] = export.warnings
    assert "2 of its 2 filled values are email addresses: none of them was loaded as " in note
    assert "0 became the row's email (the row had none) and 2 stayed only among the answers" in note


def test_an_address_column_of_phone_numbers_becomes_the_phone(tmp_path):
    text = "Name,Address\nRosalind Stroud,(202) 555-0143\nTamsin Upjohn,+61 2 9555 0100\n"
    export = read_form_export(write(tmp_path, "phones.csv", text))
    assert [r.fields.get("phone") for r in export.rows] == ["(202) 555-0143", "+61 2 9555 0100"]
    assert not any("address" in r.fields for r in export.rows)
    assert "2 of its 2 filled values are phone numbers" in export.warnings[0]
    assert "2 became the row's phone" in export.warnings[0]


def test_zip_plus_four_is_a_postcode_and_a_stray_email_becomes_the_email(tmp_path):
    text = (
        "Name,Zip\nRosalind Stroud,20009-1234\nTamsin Upjohn,62701\n"
        "Ottoline Fairweather,o@example.org\n"  # written in the wrong box
    )
    export = read_form_export(write(tmp_path, "zips.csv", text))
    assert [r.fields.get("postal_code") for r in export.rows] == ["20009-1234", "62701", None]
    assert export.rows[2].fields["email"] == "o@example.org"
    [note] = export.warnings
    assert "1 of its 3 filled values are email addresses" in note and not leaks(note)


def paper_book() -> openpyxl.Workbook:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Town hall"
    sheet.append(["Sign-in sheet, town hall"])  # a title row of one cell
    sheet.merge_cells("A1:F1")
    sheet.append(["First name", "Last name", "Address", "City", "State", "Postcode"])
    sheet.append(["Ottoline", "Fairweather", "12 Harbour St", "Springfield", "IL", 62701])
    sheet.append(["Percival", None, None, None, None, None])  # a name only
    sheet.append(["Rosalind", "Stroud", None, None, None, "rosalind@example.org"])
    return book


def test_an_xlsx_sign_in_sheet_loads(tmp_path):
    book = paper_book()
    book.save(tmp_path / "signin.xlsx")
    [export] = read_workbook(tmp_path / "signin.xlsx").exports
    assert (export.layout, export.sheet) == ("sign_in_sheet", "Town hall")
    assert [
        (r.row_number, r.fields.get("given_name"), r.fields.get("postal_code")) for r in export.rows
    ] == [
        (1, "Ottoline", "62701"),
        (2, "Percival", ""),
        (3, "Rosalind", None),
    ]
    # The email written in the postcode box is the person's email, never a postcode.
    assert export.rows[2].fields["email"] == "rosalind@example.org"
    assert any(
        "column 'Postcode' was read as postal_code, but 1 of its 2" in w for w in export.warnings
    )


def test_a_one_cell_title_naming_a_contact_is_not_taken_for_the_header(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["Email list, town hall"])
    book.active.append(["First name", "Email"])
    book.active.append(["Rosalind", "rosalind@example.org"])
    book.save(tmp_path / "titled.xlsx")
    [export] = read_workbook(tmp_path / "titled.xlsx").exports
    assert [r.fields for r in export.rows] == [
        {"given_name": "Rosalind", "email": "rosalind@example.org"}
    ]


def test_an_xlsx_sheet_with_neither_names_nor_contacts_lists_what_it_found(tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "Addresses"
    book.active.append(["Street", "Postcode"])
    book.active.append(["12 Harbour St", 62701])
    names = book.create_sheet("Names")
    names.append(["Name"])
    names.append(["Ottoline Fairweather"])
    book.save(tmp_path / "two.xlsx")
    result = read_workbook(tmp_path / "two.xlsx")
    assert [(e.sheet, len(e.rows)) for e in result.exports] == [("Names", 1)]
    [note] = result.skipped_sheets
    assert note.startswith("sheet 'Addresses': unknown header layout: among the 2 column headers")
    assert "(recognised: column 1 as address, column 2 as postal_code)" in note
    assert not leaks(note)


def test_sign_in_sheets_land_with_provenance_and_stage_as_records(con, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write(inbox, "paper.csv", PAPER)
    write(inbox, "names_only.csv", "Name\nRosalind Stroud\nTamsin\n")
    write(inbox, "shifted.csv", "First name,Last name,Postcode\nTamsin,Upjohn,tamsin@example.org\n")
    write(inbox, "addresses.csv", "Address,Postcode\n12 Harbour St,62701\n")
    paper_book().save(inbox / "signin.xlsx")
    messages, warnings = [], []
    report = land_form_exports(con, inbox, "batch", messages.append, warnings.append)
    assert report.files_loaded == 4 and report.files_skipped == ["addresses.csv"]
    assert report.rows_loaded == 8 and report.rows_quarantined == 0
    rows = con.execute(
        "SELECT file_name, row_number, layout, payload FROM raw_forms ORDER BY ALL"
    ).fetchall()
    assert [(f, n, layout) for f, n, layout, _ in rows] == [
        ("names_only.csv", 1, "sign_in_sheet"),
        ("names_only.csv", 2, "sign_in_sheet"),
        ("paper.csv", 1, "sign_in_sheet"),
        ("paper.csv", 2, "sign_in_sheet"),
        ("shifted.csv", 1, "sign_in_sheet"),
        ("signin.xlsx:Town hall", 1, "sign_in_sheet"),
        ("signin.xlsx:Town hall", 2, "sign_in_sheet"),
        ("signin.xlsx:Town hall", 3, "sign_in_sheet"),
    ]
    payloads = {(f, n): json.loads(p) for f, n, _, p in rows}
    assert payloads[("paper.csv", 1)]["fields"]["address"] == "12 Harbour St"
    assert payloads[("shifted.csv", 1)]["fields"] == {
        "given_name": "Tamsin",
        "family_name": "Upjohn",
        "email": "tamsin@example.org",
    }
    assert payloads[("signin.xlsx:Town hall", 2)]["sheet"] == "Town hall"
    said = "\n".join(messages + warnings)
    assert "Loaded paper.csv as sign_in_sheet (utf-8): 2 rows, 0 quarantined" in said
    assert "shifted.csv: column 'Postcode' was read as postal_code" in said
    assert "Skipped form export addresses.csv: unknown header layout" in said
    assert "(recognised: column 1 as address, column 2 as postal_code)" in said
    assert not leaks(said)
    # Staging keeps records with names and no email or phone: none is empty, so each
    # reaches identity; the postal details reach the address fields.
    build_staging(con, "US")
    staged = con.execute(
        "SELECT source_record_id, is_empty, given_name, family_name, street_name, postal_code "
        "FROM stg_source_records WHERE source = 'forms' ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in staged] == [
        "names_only.csv:1",
        "names_only.csv:2",
        "paper.csv:1",
        "paper.csv:2",
        "shifted.csv:1",
        "signin.xlsx:Town hall:1",
        "signin.xlsx:Town hall:2",
        "signin.xlsx:Town hall:3",
    ]
    assert not [r[0] for r in staged if r[1]]
    by_id = {r[0]: r[2:] for r in staged}
    assert by_id["names_only.csv:1"][:2] == ("Rosalind", "Stroud")
    assert by_id["names_only.csv:2"][:2] == ("Tamsin", None)
    assert by_id["paper.csv:1"][0] == "Ottoline" and by_id["paper.csv:1"][3] == "62701"
    assert by_id["paper.csv:1"][2]  # the street was parsed for the name + street rule


def test_a_google_form_asking_only_names_and_addresses_loads_with_its_timestamp(tmp_path):
    # Google Forms adds "Email address" only when it collects emails; without it the file
    # was "plain", and refused for want of a contact column.
    text = "Timestamp,Your name,Street address,Postcode\n11/20/2026 14:03:22,Ottoline Fairweather,12 Harbour St,62701\n"
    export = read_form_export(write(tmp_path, "google.csv", text))
    assert export.layout == "google_forms"
    assert export.rows[0].fields == {
        "full_name": "Ottoline Fairweather",
        "address": "12 Harbour St",
        "postal_code": "62701",
        "submitted_at": "11/20/2026 14:03:22",
    }
