"""Form exports: layouts, encodings, delimiters and bad input, on files the tests write."""

import codecs
from pathlib import Path

import pytest

from connectors.forms.reader import FormExportError, list_exports, read_form_export

GOOGLE = (
    "Timestamp,Email address,First name,Last name,Phone number,Postcode,How did you hear about us?\n"
    "11/20/2026 14:03:22,ana@example.org,Ana,Lima,(202) 555-0143,20009,A friend\n"
    '11/21/2026 09:00:00,bo@example.org,Bo,"Ng, Jr",,20010,Instagram\n'
)
TYPEFORM = (
    "#,What's your first name?,What's your last name?,What's your email address?,"
    "What's your phone number?,Response Type,Start Date (UTC),Stage Date (UTC),"
    "Submit Date (UTC),Network ID,Tags\n"
    "abc123,Zoë,Müller,zoe@example.org,+12025550100,completed,2026-11-20 14:00:00,"
    "2026-11-20 14:03:22,2026-11-20 14:03:22,9f8e,\n"
)
PLAIN = "First name;Last name;Email;Phone;Address;City;State;Postcode\nSam;Lee;sam@example.org;;1 Main St;Springfield;IL;62701\n"


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_google_forms_layout(tmp_path):
    export = read_form_export(write(tmp_path, "g.csv", GOOGLE))
    assert export.layout == "google_forms"
    assert [r.row_number for r in export.rows] == [1, 2]
    first = export.rows[0].fields
    assert first["email"] == "ana@example.org"
    assert first["given_name"] == "Ana" and first["family_name"] == "Lima"
    assert first["phone"] == "(202) 555-0143"
    assert first["postal_code"] == "20009"
    assert first["submitted_at"] == "11/20/2026 14:03:22"
    assert export.rows[1].fields["family_name"] == "Ng, Jr"
    assert export.rows[0].answers["How did you hear about us?"] == "A friend"


def test_typeform_with_byte_order_mark(tmp_path):
    export = read_form_export(write(tmp_path, "t.csv", codecs.BOM_UTF8 + TYPEFORM.encode()))
    assert export.layout == "typeform"
    assert export.encoding == "utf-8-sig"
    row = export.rows[0].fields
    assert row["given_name"] == "Zoë" and row["family_name"] == "Müller"
    assert row["email"] == "zoe@example.org"
    assert row["submitted_at"] == "2026-11-20 14:03:22"


def test_plain_layout_with_semicolons(tmp_path):
    export = read_form_export(write(tmp_path, "sheet.csv", PLAIN))
    assert export.layout == "plain" and export.delimiter == ";"
    fields = export.rows[0].fields
    assert fields["address"] == "1 Main St" and fields["locality"] == "Springfield"
    assert fields["region"] == "IL" and fields["postal_code"] == "62701"


def test_cp1252_file_is_read(tmp_path):
    data = "First name,Last name,Email\nRenée,Côté,renee@example.org\n".encode("cp1252")
    export = read_form_export(write(tmp_path, "excel.csv", data))
    assert export.encoding == "cp1252"
    assert export.rows[0].fields["given_name"] == "Renée"


def test_utf16_tab_separated(tmp_path):
    text = "full_name\temail\tphone_number\nAna Lima\tana@example.org\tp:+12025550143\n"
    export = read_form_export(
        write(tmp_path, "leads.csv", codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    )
    assert export.delimiter == "\t"
    assert export.rows[0].fields["full_name"] == "Ana Lima"


def test_line_valid_in_no_encoding_is_quarantined_and_others_load(tmp_path):
    # 0x81 is undefined in Windows-1252 and a stray continuation byte in UTF-8.
    data = b"First name,Last name,Email\nAna,Lima,ana@example.org\nBo,\x81Ng,bo@example.org\n"
    export = read_form_export(write(tmp_path, "broken.csv", data))
    assert [r.row_number for r in export.rows] == [1]
    [problem] = export.problems
    assert problem.row_number == 2
    offset = data.index(b"\x81")
    assert f"byte 0x81 on line 3 (offset {offset}) is neither UTF-8 nor Windows-1252" in (
        problem.reason
    )
    assert "Ng" not in problem.reason and "bo@example.org" not in problem.reason
    assert problem.cells == ["Bo", "\ufffdNg", "bo@example.org"]


@pytest.mark.parametrize(
    ("bom", "encoding"), [(b"", "utf-8+cp1252"), (codecs.BOM_UTF8, "utf-8-sig+cp1252")]
)
def test_utf8_export_with_rows_appended_in_windows_1252(tmp_path, bom, encoding):
    data = (
        bom
        + "First name,Last name,Email\nZoë,Müller,zoe@example.org\n".encode()
        + "Renée,Côté,renee@example.org\n".encode("cp1252")
    )
    export = read_form_export(write(tmp_path, "appended.csv", data))
    assert export.encoding == encoding and export.problems == []
    assert [
        (r.row_number, r.fields["given_name"], r.fields["family_name"]) for r in export.rows
    ] == [
        (1, "Zoë", "Müller"),
        (2, "Renée", "Côté"),
    ]
    assert list(export.rows[0].answers) == ["First name", "Last name", "Email"]


def test_mixed_file_with_a_line_in_no_encoding(tmp_path):
    data = (
        "First name,Email\nZoë,zoe@example.org\n".encode()
        + b"Bo,bo\x81@example.org\n"
        + "Renée,renee@example.org\n".encode("cp1252")
    )
    export = read_form_export(write(tmp_path, "mixed.csv", data))
    assert export.encoding == "utf-8+cp1252"
    assert [(r.row_number, r.fields["given_name"]) for r in export.rows] == [
        (1, "Zoë"),
        (3, "Renée"),
    ]
    assert [p.row_number for p in export.problems] == [2]
    assert "0x81 on line 3" in export.problems[0].reason


def test_row_numbers_count_rows_not_lines_when_cells_hold_line_breaks(tmp_path):
    data = (
        'First name,Last name,Email\nZoë,"Lima\r\nda Silva",zoe@example.org\n'.encode()
        + b"Bo,\x81Ng,bo@example.org\n"  # line 4, row 2
        + b'Cy,"Oh\n\x8dMore",cy@example.org\n'  # the bad byte on line 6, inside row 3
        + "Renée,Côté,renee@example.org\n".encode("cp1252")
    )
    export = read_form_export(write(tmp_path, "multiline.csv", data))
    assert [r.row_number for r in export.rows] == [1, 4]
    assert export.rows[0].fields["family_name"] == "Lima\r\nda Silva"
    assert export.rows[1].fields["family_name"] == "Côté"
    assert [(p.row_number, "on line" in p.reason) for p in export.problems] == [
        (2, True),
        (3, True),
    ]
    assert "0x81 on line 4" in export.problems[0].reason
    assert "0x8d on line 6" in export.problems[1].reason


def test_undecodable_header_refuses_the_file_without_repeating_it(tmp_path):
    data = b"First name,Last \x90name,Email\nAna,Lima,ana@example.org\n"
    with pytest.raises(FormExportError) as caught:
        read_form_export(write(tmp_path, "bad_header.csv", data))
    message = str(caught.value)
    assert message.startswith("bad_header.csv: byte 0x90 on line 1")
    assert "in the header" in message and "First name" not in message


def test_undecodable_utf16_file_is_refused_by_name(tmp_path):
    text = "full_name\temail\nAna Lima\tana@example.org\n"
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le") + b"\x00\xd8"  # a lone surrogate
    with pytest.raises(
        FormExportError, match=r"^leads\.csv: byte 0x00 on line 3 .*not valid utf-16"
    ):
        read_form_export(write(tmp_path, "leads.csv", data))


def test_unclosed_quote_past_the_field_limit_costs_one_row(tmp_path):
    # The stray quote would swallow the rest of the file into one cell, past csv's size
    # limit: only its line is set aside and the 10,000 rows after it load.
    data = (
        'First name,Email\nAna,ana@example.org\n"Bo,bo@example.org\n'
        + "Cy,cy@example.org\n" * 10_000
    )
    export = read_form_export(write(tmp_path, "quote.csv", data))
    assert len(export.rows) == 10_001
    assert export.rows[-1].row_number == 10_002 and export.rows[1].row_number == 3
    [problem] = export.problems
    assert problem.row_number == 2
    assert problem.reason.startswith("the row starting on line 3 has a double quote")
    assert "example.org" not in problem.reason and "Bo" not in problem.reason


def test_unknown_layout_names_the_file(tmp_path):
    with pytest.raises(FormExportError) as caught:
        read_form_export(write(tmp_path, "odd.csv", "colour,size\nred,9\n"))
    assert "odd.csv" in str(caught.value) and "unknown header layout" in str(caught.value)


def test_empty_file_is_refused_clearly(tmp_path):
    with pytest.raises(FormExportError, match=r"empty\.csv: the file is empty"):
        read_form_export(write(tmp_path, "empty.csv", ""))


@pytest.mark.parametrize("bom", [codecs.BOM_UTF8, codecs.BOM_UTF16_LE])
def test_file_holding_only_a_byte_order_mark_is_refused_clearly(tmp_path, bom):
    with pytest.raises(FormExportError, match=r"^bom\.csv: the first line holds no column headers"):
        read_form_export(write(tmp_path, "bom.csv", bom))


def test_header_only_file_loads_no_rows(tmp_path):
    export = read_form_export(write(tmp_path, "h.csv", "First name,Last name,Email\n"))
    assert export.rows == [] and export.problems == []


def test_row_with_extra_cells_is_quarantined_and_others_load(tmp_path):
    text = "First name,Last name,Email\nAna,Lima,ana@example.org\nBo,Ng,bo@example.org,extra,cells\nCy,Oh,cy@example.org\n"
    export = read_form_export(write(tmp_path, "x.csv", text))
    assert [r.row_number for r in export.rows] == [1, 3]
    assert [p.row_number for p in export.problems] == [2]
    assert "5 cells but the header has 3" in export.problems[0].reason


def test_short_rows_are_padded_and_blank_rows_skipped(tmp_path):
    export = read_form_export(write(tmp_path, "s.csv", "First name,Last name,Email\nAna\n,,\n"))
    assert len(export.rows) == 1 and export.rows[0].fields["email"] == ""


def test_duplicate_headers_keep_both_answers(tmp_path):
    text = "Timestamp,Email address,Name,Name\n11/20/2026 14:03:22,a@example.org,Ana,Ana Lima\n"
    export = read_form_export(write(tmp_path, "dup.csv", text))
    assert export.rows[0].answers == {
        "Timestamp": "11/20/2026 14:03:22",
        "Email address": "a@example.org",
        "Name": "Ana",
        "Name (2)": "Ana Lima",
    }


def test_duplicate_headers_with_a_bad_row_quarantine_it_and_load_the_rest(tmp_path):
    text = (
        "Timestamp,Email address,Name,Name\n"
        "11/20/2026 14:03:22,a@example.org,Ana,Ana Lima\n"
        "11/20/2026 14:04:00,b@example.org,Bo,Bo Ng,stray,cells\n"
        "11/20/2026 14:05:00,c@example.org,Cy,Cy Oh\n"
    )
    export = read_form_export(write(tmp_path, "dup.csv", text))
    assert [(r.row_number, r.answers["Name (2)"]) for r in export.rows] == [
        (1, "Ana Lima"),
        (3, "Cy Oh"),
    ]
    assert [(p.row_number, p.reason.split(" (")[0]) for p in export.problems] == [
        (2, "row has 6 cells but the header has 4 columns")
    ]


def test_configured_column_map_reads_any_layout(tmp_path):
    path = write(tmp_path, "custom.csv", "Correo,Nombre\nana@example.org,Ana\n")
    export = read_form_export(path, {"email": "Correo", "given_name": "Nombre"})
    assert export.layout == "configured"
    assert export.rows[0].fields == {"email": "ana@example.org", "given_name": "Ana"}


def test_content_hash_changes_with_content(tmp_path):
    a = read_form_export(write(tmp_path, "a.csv", GOOGLE))
    b = read_form_export(
        write(tmp_path, "b.csv", GOOGLE + "11/22/2026 10:00:00,cy@example.org,Cy,Oh,,,\n")
    )
    assert a.content_hash != b.content_hash


def test_list_exports_only_csv(tmp_path):
    write(tmp_path, "a.csv", GOOGLE)
    write(tmp_path, "B.CSV", GOOGLE)
    write(tmp_path, "notes.txt", "x")
    assert [p.name for p in list_exports(tmp_path)] == ["B.CSV", "a.csv"]
    assert list_exports(tmp_path / "missing") == []


def test_headerless_file_does_not_repeat_personal_data(tmp_path):
    path = write(
        tmp_path, "no_header.csv", "Ana,Lima,ana@example.org,2025550143\nBo,Ng,bo@example.org,\n"
    )
    with pytest.raises(FormExportError) as caught:
        read_form_export(path)
    assert "ana@example.org" not in str(caught.value)
    assert "2025550143" not in str(caught.value)
    assert "no_header.csv" in str(caught.value)


def test_jotform_layout(tmp_path):
    text = "Submission Date,Full Name,E-mail,Phone Number,Who referred you?\n2026-11-20 14:03:22,Ana Lima,ana@example.org,2025550143,Bo Ng\n"
    export = read_form_export(write(tmp_path, "jot.csv", text))
    assert export.layout == "jotform"
    assert export.rows[0].fields == {
        "email": "ana@example.org",
        "full_name": "Ana Lima",
        "phone": "2025550143",
        "referred_by": "Bo Ng",
        "submitted_at": "2026-11-20 14:03:22",
    }


def test_meta_lead_ads_utf16_tabs_and_value_prefixes(tmp_path):
    text = (
        "id\tcreated_time\tad_id\tad_name\tadset_id\tadset_name\tcampaign_id\tcampaign_name\tform_id\t"
        "form_name\tis_organic\tplatform\twould_you_like_to_volunteer?\temail\tfull_name\tphone_number\n"
        "l:123\t2026-11-20T14:03:22+0000\tag:1\tAd\tas:2\tSet\tc:3\tCamp\tf:4\tForm\tfalse\tfb\tyes\t"
        "ana@example.org\tAna Lima\tp:+12025550143\n"
    )
    path = write(tmp_path, "leads.csv", codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    export = read_form_export(path)
    assert export.layout == "meta_lead_ads" and export.delimiter == "\t"
    fields = export.rows[0].fields
    assert fields["phone"] == "+12025550143" and fields["email"] == "ana@example.org"
    assert fields["volunteer"] == "yes" and fields["submitted_at"] == "2026-11-20T14:03:22+0000"


def test_eventbrite_attendees_with_attendance(tmp_path):
    text = (
        "Order #,Order Date,First Name,Last Name,Email,Quantity,Ticket Type,Attendee #,Attendee Status\n"
        "1001,Nov 20 2026,Ana,Lima,ana@example.org,1,General,1,Checked In\n"
    )
    export = read_form_export(write(tmp_path, "eventbrite.csv", text))
    assert export.layout == "eventbrite"
    assert export.rows[0].fields["attended"] == "Checked In"
    assert export.rows[0].fields["submitted_at"] == "Nov 20 2026"


def test_consent_question_is_not_taken_for_the_email(tmp_path):
    text = "Timestamp,Keep me updated by email?,Email address,Name,How did you hear about us?\n11/20/2026 14:03:22,Yes,ana@example.org,Ana,A friend\n"
    fields = read_form_export(write(tmp_path, "g.csv", text)).rows[0].fields
    assert fields["email"] == "ana@example.org"
    assert fields["consent_email"] == "Yes" and fields["heard_about"] == "A friend"
    assert "consent" not in fields  # one field per channel since issue 12


def test_sign_in_sheet(tmp_path):
    text = "Name,Email,Phone,Signature\nAna Lima,ana@example.org,,AL\n"
    export = read_form_export(write(tmp_path, "sign_in_sheet.csv", text))
    assert export.layout == "plain" and export.rows[0].fields["full_name"] == "Ana Lima"


def test_configured_map_naming_a_missing_column_is_refused(tmp_path):
    path = write(tmp_path, "custom.csv", "Correo,Nombre\nana@example.org,Ana\n")
    with pytest.raises(
        FormExportError, match=r"custom\.csv: the configured column map names column.*'Apellido'"
    ):
        read_form_export(path, {"email": "Correo", "family_name": "Apellido"})


def test_wide_file_of_10000_columns_loads(tmp_path):
    header = ",".join(["First name", "Email"] + [f"Q{i}" for i in range(10_000)])
    row = ",".join(["Ana", "ana@example.org"] + [""] * 10_000)
    export = read_form_export(write(tmp_path, "wide.csv", header + "\n" + row + "\n"))
    assert (
        export.rows[0].fields["email"] == "ana@example.org"
        and len(export.rows[0].answers) == 10_002
    )


def test_wide_file_row_with_more_cells_is_quarantined_and_others_load(tmp_path):
    header = ",".join(["First name", "Email"] + [f"Q{i}" for i in range(10_000)])
    answers = ["yes"] * 10_000
    rows = [
        ",".join(["Ana", "ana@example.org", *answers]),
        ",".join(["Bo", "bo@example.org", *answers, "x", "y", "z"]),
        ",".join(["Cy", "cy@example.org", *answers]),
    ]
    export = read_form_export(write(tmp_path, "wide.csv", "\n".join([header, *rows]) + "\n"))
    assert [(r.row_number, r.fields["email"]) for r in export.rows] == [
        (1, "ana@example.org"),
        (3, "cy@example.org"),
    ]
    [problem] = export.problems
    assert problem.row_number == 2
    assert problem.reason.startswith("row has 10005 cells but the header has 10002 columns")
    assert "bo@example.org" not in problem.reason and len(problem.reason) < 200
