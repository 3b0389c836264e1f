"""Landing the forms inbox into a real warehouse: once by hash, bad files skipped, bad rows
quarantined, a corrected file replacing the rows of the earlier one."""

import codecs
import json
import zipfile

from connectors.forms.landing import land_form_exports
from transforms.normalise import build_staging

GOOD = "First name,Last name,Email\nAna,Lima,ana@example.org\nBo,Ng,bo@example.org\n"


def land(con, inbox):
    messages, warnings = [], []
    report = land_form_exports(con, inbox, "batch", messages.append, warnings.append)
    return report, warnings


def test_bad_file_is_skipped_and_good_files_load(con, tmp_path):
    (tmp_path / "good.csv").write_text(GOOD)
    (tmp_path / "mystery.csv").write_text("colour,size\nred,9\n")
    # An undecodable header refuses the file; an undecodable data row would only be quarantined.
    (tmp_path / "broken.csv").write_bytes(b"First name,E\x81mail\nAna,ana@x.org\n")
    report, warnings = land(con, tmp_path)
    assert report.files_loaded == 1 and report.rows_loaded == 2
    assert sorted(report.files_skipped) == ["broken.csv", "mystery.csv"]
    assert any("broken.csv" in w and "0x81" in w for w in warnings)
    assert any("mystery.csv" in w and "unknown header layout" in w for w in warnings)
    assert con.execute("SELECT count(*) FROM raw_forms").fetchone()[0] == 2


def test_same_file_again_is_a_no_op(con, tmp_path):
    (tmp_path / "good.csv").write_text(GOOD)
    land(con, tmp_path)
    (tmp_path / "copy.csv").write_text(GOOD)
    report, _ = land(con, tmp_path)
    assert report.files_loaded == 0 and report.files_unchanged == 2
    assert con.execute("SELECT count(*) FROM raw_forms").fetchone()[0] == 2


def test_bad_rows_are_quarantined_with_file_row_and_reason(con, tmp_path):
    (tmp_path / "x.csv").write_text(GOOD + "Cy,Oh,cy@example.org,oops\n")
    report, warnings = land(con, tmp_path)
    assert report.rows_loaded == 2 and report.rows_quarantined == 1
    row = con.execute("SELECT file_name, row_number, reason FROM quarantine").fetchone()
    assert row[:2] == ("x.csv", 3) and "4 cells" in row[2]
    assert any("x.csv row 3" in w for w in warnings)


def test_mixed_encodings_load_the_good_rows_and_quarantine_the_undecodable_one(con, tmp_path):
    (tmp_path / "appended.csv").write_bytes(
        codecs.BOM_UTF8
        + "First name,Last name,Email\nZoë,Müller,zoe@example.org\n".encode()
        + b"Bo,\x81Ng,bo@example.org\n"
        + "Renée,Côté,renee@example.org\n".encode("cp1252")
    )
    messages, warnings = [], []
    report = land_form_exports(con, tmp_path, "batch", messages.append, warnings.append)
    assert report.rows_loaded == 2 and report.rows_quarantined == 1 and not report.files_skipped
    loaded = con.execute("SELECT row_number, payload FROM raw_forms ORDER BY row_number").fetchall()
    assert [(n, json.loads(p)["fields"]["given_name"]) for n, p in loaded] == [
        (1, "Zoë"),
        (3, "Renée"),
    ]
    file_name, row_number, reason, payload = con.execute(
        "SELECT file_name, row_number, reason, payload FROM quarantine"
    ).fetchone()
    assert (file_name, row_number) == ("appended.csv", 2)
    assert "byte 0x81 on line 3" in reason and "neither UTF-8 nor Windows-1252" in reason
    assert json.loads(payload) == ["Bo", "\ufffdNg", "bo@example.org"]
    encoding = con.execute("SELECT encoding FROM form_files").fetchone()[0]
    assert encoding == "utf-8-sig+cp1252"
    assert any(w.startswith("appended.csv row 2: byte 0x81") for w in warnings)
    said = " ".join(messages + warnings)
    assert not any(secret in said for secret in ("Ng", "bo@example.org", "Zoë", "Renée"))


def test_corrected_file_replaces_its_rows(con, tmp_path):
    path = tmp_path / "signups.csv"
    path.write_text(GOOD)
    land(con, tmp_path)
    path.write_text("First name,Last name,Email\nAna,Lima,ana@example.org\n")
    land(con, tmp_path)
    build_staging(con, "US")
    rows = con.execute(
        "SELECT source_record_id, file_name, row_number FROM stg_source_records ORDER BY 1"
    ).fetchall()
    assert rows == [("signups.csv:1", "signups.csv", 1)]


# Issue 11, cases 5 and 10: hostile exports through the real loader and a real Dagster run.
# Every name and address below is distinctive, so finding one in a message is a leak.
HOSTILE = {
    "good.csv": "First name,Last name,Email\nQuorra,Ashdown,quorra@example.org\n",
    # A stray quote on line 3: before, the rest of the file became one given_name.
    "quote.csv": (
        "First name,Last name,Email\nBexley,Thorne,bexley@example.org\n"
        '"Cazimir,Vale,cazimir@example.org\nDagny,Wren,dagny@example.org\n'
        "Evadne,Kim,evadne@example.org\n"
    ),
    # NUL bytes in cells, and a row of nothing else (before, it became a person).
    "nul.csv": (
        b"First name,Last name,Email\nFen\x00wick,Li,fenwick@example.org\n"
        b"\x00\x00\x00,\x00\x00,\x00\x00\x00\nGalloway,Moss\x00,galloway@example.org\n"
    ),
    # A second Email column (before, ignored without a word).
    "dup.csv": (
        "First name,Last name,Email,Email\nHalvard,Ng,,halvard@example.org\n"
        "Isolde,Oh,isolde@example.org,isolde.oh@work.example\n"
    ),
    # UTF-16 with no byte order mark (before, an unknown layout of 'F\x00i\x00...').
    "utf16.csv": "First name,Last name,Email\nJarrah,Pérez,jarrah@example.org\n".encode(
        "utf-16-le"
    ),
    # No header row (before, the first person's names were printed in the log).
    "no_header.csv": "Kestrel,Loxley,kestrel@example.org\nMireille,Quist,mireille@example.org\n",
}
LOADED = {
    "good.csv": ["Quorra"],
    "quote.csv": ["Bexley", "Dagny", "Evadne"],
    "nul.csv": ["Fenwick", "Galloway"],
    "dup.csv": ["Halvard", "Isolde"],
    "utf16.csv": ["Jarrah"],
}
NEVER_SAID = (
    "Quorra", "Ashdown", "Bexley", "Thorne", "Cazimir", "Vale,", "Dagny", "Wren", "Evadne",
    "Fenwick", "Galloway", "Moss", "Halvard", "Isolde", "Jarrah", "Pérez", "Kestrel",
    "Loxley", "Mireille", "Quist", "example.org", "work.example", "\x00",
)  # fmt: skip


def write_hostile_inbox(inbox):
    inbox.mkdir(exist_ok=True)
    for name, data in HOSTILE.items():
        (inbox / name).write_bytes(data.encode() if isinstance(data, str) else data)


def test_hostile_exports_load_their_good_rows_and_say_what_to_fix(con, tmp_path):
    write_hostile_inbox(tmp_path)
    messages, warnings = [], []
    report = land_form_exports(con, tmp_path, "batch", messages.append, warnings.append)
    assert report.files_loaded == 5 and report.files_skipped == ["no_header.csv"]
    assert report.rows_loaded == 9 and report.rows_quarantined == 2
    assert report.rows_cleaned == 2 and report.duplicate_columns == 1
    loaded = con.execute(
        "SELECT file_name, list(payload ->> '$.fields.given_name' ORDER BY row_number) "
        "FROM raw_forms GROUP BY 1"
    ).fetchall()
    assert dict(loaded) == LOADED
    quarantined = con.execute(
        "SELECT file_name, row_number, reason FROM quarantine ORDER BY 1"
    ).fetchall()
    assert [(f, n) for f, n, _ in quarantined] == [("nul.csv", 2), ("quote.csv", 2)]
    assert "line 3" in quarantined[1][2] and "double quote" in quarantined[1][2]
    emails = con.execute(
        "SELECT payload ->> '$.fields.email', payload ->> '$.fields.alt_email' FROM raw_forms "
        "WHERE file_name = 'dup.csv' ORDER BY row_number"
    ).fetchall()
    assert emails == [
        ("halvard@example.org", None),
        ("isolde@example.org", "isolde.oh@work.example"),
    ]
    assert "Loaded quote.csv as plain (utf-8): 3 rows, 1 quarantined" in messages
    assert "Loaded utf16.csv as plain (utf-16-le): 1 rows, 0 quarantined" in messages
    assert any(w.startswith("quote.csv row 2: the row starting on line 3") for w in warnings)
    assert any(w.startswith("nul.csv row 2: row has no email, phone or name") for w in warnings)
    assert any(w.startswith("dup.csv: columns 3 and 4 are all named 'Email'") for w in warnings)
    assert any(
        w.startswith("Skipped form export no_header.csv: line 1 looks like") for w in warnings
    )
    said = "\n".join(messages + warnings)
    assert not [value for value in NEVER_SAID if value in said]


def test_hostile_exports_through_a_dagster_run_make_no_person_of_nuls(tmp_path, monkeypatch):
    import dagster as dg
    import duckdb

    from tests.support.pipeline import configure, logged_text, run_job

    inbox = tmp_path / "inbox"
    write_hostile_inbox(inbox)
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
    assert metadata["rows_loaded"] == 9 and metadata["rows_quarantined"] == 2
    assert metadata["files_skipped"] == 1 and metadata["rows_cleaned"] == 2
    said = logged_text(instance, result)
    assert "quote.csv row 2: the row starting on line 3" in said
    assert not [value for value in NEVER_SAID if value in said]
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        people = con.execute("SELECT count(*) FROM people").fetchone()[0]
        nul_names = con.execute(
            "SELECT count(*) FROM people WHERE contains(concat_ws('', given_name, family_name, "
            "email), chr(0))"
        ).fetchone()[0]
    finally:
        con.close()
    assert (people, nul_names) == (9, 0)
    exported = [p for p in (tmp_path / "exports").rglob("*") if p.is_file()]
    assert any(p.suffix == ".csv" for p in exported)
    assert not [p.name for p in exported if b"\x00" in exported_text(p)]


def exported_text(path):
    """An export's bytes as a reader sees them: a workbook's XML parts, not its zip."""
    if path.suffix != ".xlsx":
        return path.read_bytes()
    with zipfile.ZipFile(path) as workbook:
        return b"".join(workbook.read(name) for name in workbook.namelist())
