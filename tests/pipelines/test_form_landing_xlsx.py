"""Workbooks in the forms inbox, landed into a real warehouse and through a real Dagster
run: every recognised sheet loads with its sheet as provenance, row numbers per sheet, bad
rows quarantined, bad workbooks skipped by name while the other files still load."""

import datetime as dt

import dagster as dg
import duckdb
import openpyxl

from connectors.forms.landing import land_form_exports
from tests.support.pipeline import configure, logged_text, run_job

NEVER_SAID = (
    "Ariadne",
    "Brannock",
    "Corwin",
    "Delphine",
    "Ezra",
    "Faro",
    "Gideon",
    "Hale",
    "example.org",
    "Hush",
)


def write_inbox(inbox):
    """A two-sheet workbook behind an empty first sheet, a corrupt workbook, a CSV."""
    inbox.mkdir(exist_ok=True)
    book = openpyxl.Workbook()
    book.active.title = "Cover"  # empty
    monday = book.create_sheet("Monday")
    monday.append(["Sign-in, Monday"])
    monday.merge_cells("A1:D1")
    monday.append(["First name", "Last name", "Email", "Signed in"])
    monday.append(["Ariadne", "Brannock", "ariadne@example.org", dt.datetime(2026, 5, 4, 18, 30)])
    # A value right of the headers: quarantined, the rows around it still load.
    monday.append(["Hush", "Hush", "hush@example.org", None, "Hush"])
    monday.append(["Corwin", "Delphine", "corwin@example.org", dt.datetime(2026, 5, 4, 18, 45)])
    tuesday = book.create_sheet("Tuesday")
    tuesday.append(["Full name", "Phone", "Postcode"])
    tuesday.append(["Ezra Faro", 2025550143, 20009])
    odd = book.create_sheet("Tallies")
    odd.append(["Colour", "Count"])
    odd.append(["Hush", 3])
    book.save(inbox / "signins.xlsx")
    (inbox / "damaged.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    (inbox / "good.csv").write_text("First name,Last name,Email\nGideon,Hale,gideon@example.org\n")


def test_workbook_sheets_land_with_sheet_provenance_and_bad_files_are_named(con, tmp_path):
    write_inbox(tmp_path)
    messages, warnings = [], []
    report = land_form_exports(con, tmp_path, "batch", messages.append, warnings.append)
    assert report.files_loaded == 2 and report.files_skipped == ["damaged.xlsx"]
    assert (report.rows_loaded, report.rows_quarantined) == (4, 1)
    rows = con.execute(
        "SELECT file_name, row_number, payload ->> '$.sheet', payload ->> '$.file' "
        "FROM raw_forms ORDER BY ALL"
    ).fetchall()
    assert rows == [
        ("good.csv", 1, None, None),
        ("signins.xlsx:Monday", 1, "Monday", "signins.xlsx"),
        ("signins.xlsx:Monday", 3, "Monday", "signins.xlsx"),
        ("signins.xlsx:Tuesday", 1, "Tuesday", "signins.xlsx"),
    ]
    # A date cell reads as ISO text, as a CSV export would write it.
    signed_in = con.execute(
        "SELECT payload ->> '$.answers.\"Signed in\"' FROM raw_forms WHERE row_number = 3"
    ).fetchone()[0]
    assert signed_in == "2026-05-04 18:45:00"
    quarantined = con.execute("SELECT file_name, row_number, reason FROM quarantine").fetchall()
    assert [q[:2] for q in quarantined] == [("signins.xlsx:Monday", 2)]
    assert "sheet row 4 has values in column 5" in quarantined[0][2]
    files = con.execute("SELECT file_name, encoding FROM form_files ORDER BY 1").fetchall()
    assert files == [
        ("good.csv", "utf-8"),
        ("signins.xlsx:Monday", "xlsx"),
        ("signins.xlsx:Tuesday", "xlsx"),
    ]
    said = "\n".join(messages + warnings)
    assert "signins.xlsx: sheet 'Tallies': unknown header layout" in said
    assert "Skipped form export damaged.xlsx: the file is not a readable Excel workbook" in said
    assert "signins.xlsx sheet 'Monday' row 2:" in said
    assert "Cover" not in said  # an empty sheet is skipped silently
    assert not [v for v in NEVER_SAID if v in said]
    # The same workbook again is a no-op.
    again = land_form_exports(con, tmp_path, "batch2", messages.append, warnings.append)
    assert again.files_loaded == 0 and again.files_unchanged == 2


def test_workbooks_through_a_dagster_run_become_people(tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    write_inbox(inbox)
    warehouse = configure(monkeypatch, tmp_path, {}, inbox)
    instance = dg.DagsterInstance.ephemeral()
    result = run_job(instance)
    assert result.success
    metadata = {
        k: v.value
        for e in result.all_events
        if e.is_step_materialization and e.asset_key == dg.AssetKey("form_exports")
        for k, v in e.event_specific_data.materialization.metadata.items()
    }
    assert (metadata["rows_loaded"], metadata["rows_quarantined"]) == (4, 1)
    assert metadata["files_skipped"] == 1
    said = logged_text(instance, result)
    assert "damaged.xlsx" in said and "sheet 'Tallies'" in said
    assert not [v for v in NEVER_SAID if v in said]
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        records = con.execute(
            "SELECT source_record_id, created_at FROM stg_source_records "
            "WHERE source = 'forms' ORDER BY 1"
        ).fetchall()
        people = con.execute("SELECT count(*) FROM people").fetchone()[0]
    finally:
        con.close()
    assert [r[0] for r in records] == [
        "good.csv:1",
        "signins.xlsx:Monday:1",
        "signins.xlsx:Monday:3",
        "signins.xlsx:Tuesday:1",
    ]
    assert people == 4
