"""Hostile form exports (issue 11, cases 5 and 10): a stray double quote, NUL bytes, a
repeated Email column, UTF-16 without a byte order mark and a file with no header row. The
good rows always load; the bad ones are quarantined with their row and line; no message
repeats a cell value."""

import codecs
from pathlib import Path

import pytest

from connectors.forms.reader import FormExportError, read_form_export

HEADER = "First name,Last name,Email\n"


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def said(export) -> str:
    """Everything the export would put in a log: warnings and quarantine reasons."""
    return " ".join(export.warnings + [p.reason for p in export.problems])


def test_unclosed_quote_quarantines_its_row_and_the_rest_of_the_file_loads(tmp_path):
    # Before: the rest of the file became one given_name and the log said "1 rows, 0 quarantined".
    text = (
        HEADER + "Quorra,Ashdown,quorra@example.org\n"
        '"Bexley,Thorne,bexley@example.org\n'
        "Cazimir,Vale,cazimir@example.org\n"
        "Dagny,Wren,dagny@example.org\n"
    )
    export = read_form_export(write(tmp_path, "quote.csv", text))
    assert [(r.row_number, r.fields["given_name"], r.fields["email"]) for r in export.rows] == [
        (1, "Quorra", "quorra@example.org"),
        (3, "Cazimir", "cazimir@example.org"),
        (4, "Dagny", "dagny@example.org"),
    ]
    [problem] = export.problems
    assert problem.row_number == 2
    assert "line 3" in problem.reason and "end of the file" in problem.reason
    assert "Fix the quote" in problem.reason
    # The quarantine keeps what the line held, split without quoting.
    assert problem.cells == ['"Bexley', "Thorne", "bexley@example.org"]
    assert not any(v in said(export) for v in ("Bexley", "Thorne", "bexley@", "Cazimir"))


def test_two_stray_quotes_never_merge_the_rows_between_into_one_person(tmp_path):
    # Before: "2 rows, 0 quarantined", and Ann got Bob's address.
    text = (
        HEADER + 'Ann,"Smith,ann@example.org\n'
        "Cazimir,Vale,cazimir@example.org\n"
        'Bob,Jones",bob@example.org\n'
        "Dagny,Wren,dagny@example.org\n"
    )
    export = read_form_export(write(tmp_path, "quotes.csv", text))
    assert [(r.fields["given_name"], r.fields["email"]) for r in export.rows] == [
        ("Dagny", "dagny@example.org")
    ]
    [problem] = export.problems
    assert "lines 2-4" in problem.reason and "stray double quotes" in problem.reason
    assert not any(v in said(export) for v in ("Ann", "Smith", "bob@", "Cazimir"))


def test_a_line_break_inside_an_answer_is_not_taken_for_stray_quotes(tmp_path):
    text = HEADER + 'Ann,"Smith\nJones",ann@example.org\nDagny,Wren,dagny@example.org\n'
    export = read_form_export(write(tmp_path, "answers.csv", text))
    assert [r.fields["given_name"] for r in export.rows] == ["Ann", "Dagny"]
    assert export.problems == []


def test_quote_closed_lines_later_with_text_after_it_costs_only_its_row(tmp_path):
    text = (
        HEADER + '"Bexley,Thorne,bexley@example.org\n'
        "Cazimir,Vale,cazimir@example.org\n"
        '"Dagny",Wren,dagny@example.org\n'
    )
    export = read_form_export(write(tmp_path, "quote.csv", text))
    assert [(r.row_number, r.fields["given_name"]) for r in export.rows] == [
        (2, "Cazimir"),
        (3, "Dagny"),
    ]
    [problem] = export.problems
    assert problem.row_number == 1 and "runs on to line 4" in problem.reason
    assert "line 2" in problem.reason


def test_text_after_a_closing_quote_on_one_line_is_quarantined(tmp_path):
    text = HEADER + 'Bexley,"Thorne"x,bexley@example.org\nCazimir,Vale,cazimir@example.org\n'
    export = read_form_export(write(tmp_path, "quote.csv", text))
    assert [r.row_number for r in export.rows] == [2]
    [problem] = export.problems
    assert problem.row_number == 1 and "text follows its closing quote" in problem.reason


def test_line_break_inside_a_closed_quote_is_still_one_valid_row(tmp_path):
    text = (
        "First name,Last name,Email,Comments\n"
        'Quorra,Ashdown,quorra@example.org,"Line one\nline two, with a comma"\n'
        "Bexley,Thorne,bexley@example.org,\n"
    )
    export = read_form_export(write(tmp_path, "multiline.csv", text))
    assert export.problems == []
    assert [r.row_number for r in export.rows] == [1, 2]
    assert export.rows[0].answers["Comments"] == "Line one\nline two, with a comma"


def test_unclosed_quote_in_the_header_refuses_the_file_by_name(tmp_path):
    text = 'First name,"Last name,Email\nQuorra,Ashdown,quorra@example.org\n'
    with pytest.raises(FormExportError) as caught:
        read_form_export(write(tmp_path, "header.csv", text))
    message = str(caught.value)
    assert message.startswith("header.csv: the header row on line 1 has a double quote")
    assert "quorra" not in message.lower()


def test_nul_bytes_are_removed_and_a_row_of_only_nuls_is_quarantined(tmp_path):
    data = (
        HEADER.encode()
        + b"Ev\x00adne,Kim,evadne@example.org\n"
        + b"\x00\x00\x00,\x00\x00,\x00\x00\x00\n"
        + b"Fenwick,Li\x00\x00,fen\x00wick@example.org\n"
        + b"Galloway,Moss,galloway@example.org\n"
    )
    export = read_form_export(write(tmp_path, "nul.csv", data))
    assert [(r.row_number, r.fields["given_name"], r.fields["email"]) for r in export.rows] == [
        (1, "Evadne", "evadne@example.org"),
        (3, "Fenwick", "fenwick@example.org"),
        (4, "Galloway", "galloway@example.org"),
    ]
    assert export.rows[1].fields["family_name"] == "Li"
    assert not any("\x00" in v for r in export.rows for v in r.answers.values())
    [problem] = export.problems
    assert problem.row_number == 2 and "line 3" in problem.reason
    assert "no email, phone or name" in problem.reason
    assert export.rows_cleaned == 2
    assert any("control characters from 2 row(s)" in w for w in export.warnings)
    assert not any(v in said(export) for v in ("Evadne", "Fenwick", "example.org"))


def test_nul_bytes_in_the_header_are_removed(tmp_path):
    data = b"First\x00 name,Last name,E\x00mail\nEvadne,Kim,evadne@example.org\n"
    export = read_form_export(write(tmp_path, "nulheader.csv", data))
    assert export.rows[0].fields["email"] == "evadne@example.org"
    assert list(export.rows[0].answers) == ["First name", "Last name", "Email"]


def test_second_email_column_is_named_in_a_warning_and_kept_as_an_alternative(tmp_path):
    text = (
        "First name,Last name,Email,Email\n"
        "Halvard,Ng,halvard@example.org,halvard.ng@work.example\n"
        "Isolde,Oh,,isolde@example.org\n"  # only the second column filled
        "Jarrah,Pu,jarrah@example.org,JARRAH@example.org\n"  # the same address twice
    )
    export = read_form_export(write(tmp_path, "dup.csv", text))
    fields = [r.fields for r in export.rows]
    assert fields[0]["email"] == "halvard@example.org"
    assert fields[0]["alt_email"] == "halvard.ng@work.example"
    assert fields[1]["email"] == "isolde@example.org" and "alt_email" not in fields[1]
    assert fields[2]["email"] == "jarrah@example.org" and "alt_email" not in fields[2]
    assert export.rows[0].answers["Email (2)"] == "halvard.ng@work.example"
    [warning] = export.warnings
    assert "columns 3 and 4 are all named 'Email'" in warning
    assert "alternative address" in warning
    assert export.duplicate_columns == 1
    assert not any(v in warning for v in ("Halvard", "halvard", "isolde", "jarrah"))


def test_repeated_non_contact_headers_are_named_but_blank_headers_are_not(tmp_path):
    text = "Timestamp,Email address,Name,Name,,\n11/20/2026 14:03:22,a@example.org,Kestrel,Kestrel Lu,,\n"
    export = read_form_export(write(tmp_path, "g.csv", text))
    [warning] = export.warnings
    assert "columns 3 and 4 are all named 'Name'" in warning and "full_name" in warning
    assert "Kestrel" not in warning


@pytest.mark.parametrize(
    ("codec", "label"), [("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be")]
)
def test_utf16_without_a_byte_order_mark_is_detected(tmp_path, codec, label):
    # Before: "unknown header layout (columns 'F\x00i\x00r\x00s\x00t...')".
    text = HEADER + "Loxley,Jó,loxley@example.org\nRenée,Côté,renee@example.org\n"
    export = read_form_export(write(tmp_path, "u16.csv", text.encode(codec)))
    assert export.encoding == label and export.problems == []
    assert [(r.fields["given_name"], r.fields["family_name"]) for r in export.rows] == [
        ("Loxley", "Jó"),
        ("Renée", "Côté"),
    ]


def test_utf16_tab_separated_without_bom_in_japanese(tmp_path):
    text = "氏名\tメール\tFull name\temail\n東京 花子\tx\t東京 花子\thanako@example.org\n"
    export = read_form_export(write(tmp_path, "jp.csv", text.encode("utf-16-le")))
    assert export.delimiter == "\t" and export.rows[0].fields["full_name"] == "東京 花子"


def test_utf8_file_with_stray_nuls_is_not_taken_for_utf16(tmp_path):
    data = HEADER.encode() + b"Evadne,Kim,evadne@example.org\n\x00\x00\n"
    export = read_form_export(write(tmp_path, "stray.csv", data))
    assert export.encoding == "utf-8" and len(export.rows) == 1


def test_truncated_utf16_file_is_refused_by_name(tmp_path):
    data = (HEADER + "Loxley,Jo,loxley@example.org\n").encode("utf-16-le")[:-1]
    with pytest.raises(
        FormExportError, match=r"^u16\.csv: byte 0x0a on line 2 .*not valid utf-16-le"
    ):
        read_form_export(write(tmp_path, "u16.csv", data))


@pytest.mark.parametrize(
    "first_line",
    [
        "Mireille,Quist,mireille@example.org",
        "Mireille,Quist,+61 412 345 678",
        # No contact details on line 1: refused, and still never repeated. (Before issue 12
        # this case was "Mireille,Quist,Email"; an Email column alone now loads.)
        "Mireille,Quist,Springfield",
        "Mireille,Quist,12 Harbour St,Springfield",  # a street address: a person
    ],
)
def test_file_without_a_header_row_repeats_none_of_its_cells(tmp_path, first_line):
    text = first_line + "\nNoor,Rask,noor@example.org\n"
    with pytest.raises(FormExportError) as caught:
        read_form_export(write(tmp_path, "no_header.csv", text))
    message = str(caught.value)
    assert message.startswith("no_header.csv: ")
    assert "line 1" in message
    for value in ("Mireille", "Quist", "mireille", "412", "Noor", "Rask", "Harbour", "Springfield"):
        assert value not in message


def test_byte_order_mark_utf16_still_reads(tmp_path):
    data = codecs.BOM_UTF16_BE + (HEADER + "Loxley,Jó,loxley@example.org\n").encode("utf-16-be")
    export = read_form_export(write(tmp_path, "bom.csv", data))
    assert export.encoding == "utf-16" and export.rows[0].fields["family_name"] == "Jó"
