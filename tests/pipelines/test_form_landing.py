"""Landing the forms inbox into a real warehouse: once by hash, bad files skipped, bad rows
quarantined, a corrected file replacing the rows of the earlier one."""

import codecs
import json

from pipelines.landing import land_form_exports
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
