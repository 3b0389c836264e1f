"""The review decisions file (CSV or YAML) and the review file a volunteer works in."""

import pytest

from tests.support.raw import NOW, an_person, land
from transforms.identity import resolve
from transforms.identity_config import parse_identity_config
from transforms.identity_review_files import DecisionsFileError, read_decisions, write_review_file
from transforms.normalise import build_staging


def test_absent_file_means_no_decisions(tmp_path):
    assert read_decisions(tmp_path / "identity_decisions.csv").empty


def test_csv_rows_without_a_decision_are_skipped_and_lines_numbered(tmp_path):
    path = tmp_path / "identity_decisions.csv"
    path.write_text(
        "record_a,record_b,match_probability,decision\n"
        "action_network:u-1,mailchimp:m-1,0.91,accept\n"
        "action_network:u-2,mailchimp:m-2,0.85,\n"
        "action_network:u-3,mailchimp:m-3,0.83,reject\n"
    )
    frame = read_decisions(path)
    assert list(frame["decision"]) == ["accept", "reject"]
    assert list(frame["line_number"]) == [2, 4]


def test_csv_without_the_columns_names_the_file_and_columns(tmp_path):
    path = tmp_path / "identity_decisions.csv"
    path.write_text("a,b,verdict\nx,y,accept\n")
    with pytest.raises(DecisionsFileError, match=r"identity_decisions\.csv.*missing record_a"):
        read_decisions(path)


@pytest.mark.parametrize("name", ["identity_decisions.csv", "identity_decisions.yaml"])
def test_a_binary_decisions_file_is_named_with_what_to_do(tmp_path, name):
    path = tmp_path / name
    # A spreadsheet saved whole (a zip) where the CSV should be.
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(128, 256)) * 4)
    with pytest.raises(DecisionsFileError) as raised:
        read_decisions(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: not a text file")
    assert "Save it as CSV (UTF-8)" in message and "move it aside" in message
    assert "codec" not in message and "\\x" not in message, "no bytes repeated"


def test_yaml_decisions(tmp_path):
    path = tmp_path / "identity_decisions.yaml"
    path.write_text(
        "decisions:\n"
        "  - {record_a: 'action_network:u-1', record_b: 'mailchimp:m-1', decision: accept}\n"
    )
    frame = read_decisions(path)
    assert frame.iloc[0].to_dict() == {
        "record_a": "action_network:u-1",
        "record_b": "mailchimp:m-1",
        "decision": "accept",
        "line_number": 1,
    }
    path.write_text("decisions: just accept them all\n")
    with pytest.raises(DecisionsFileError, match="expected a list"):
        read_decisions(path)


def test_review_file_lists_pending_pairs_side_by_side(con, tmp_path):
    land(
        con,
        an=[
            an_person("Ana", "Lima", "ana@work.example", uuid="u-1"),
            an_person("Ana", "Lima", "ana@home.example", uuid="u-2"),
        ],
    )
    build_staging(con, "US")
    resolve(con, NOW, parse_identity_config({}))
    con.execute(
        "INSERT INTO identity_review VALUES "
        "('action_network:u-1', 'action_network:u-2', NULL, NULL, 0.9, 3.2, ?)",
        [NOW],
    )
    path = tmp_path / "review" / "identity_review.csv"
    assert write_review_file(con, path) == 1
    header, row = path.read_text().splitlines()
    assert header.endswith(",decision")
    assert "ana@work.example" in row and "ana@home.example" in row
    assert not list(path.parent.glob(".*.tmp")), "written whole, no temporary file left"
