"""Pages landed from the body they came in (Mailchimp members): the same rows as from the
parsed records, and the parsed way whenever a record cannot be landed from the body."""

from __future__ import annotations

import orjson
import pytest

from connectors.landing import json_page_frame, land_pages, raw_frame
from connectors.paging import JsonPage
from warehouse.connection import connect

FIELDS = ("$.id", "$.last_changed")
RECORDS = [
    {"id": "a1", "last_changed": "2025-03-04T05:06:07+00:00", "merge_fields": {"FNAME": "Zoë"}},
    {"id": "b2", "last_changed": "2025-03-04T07:06:07+02:00", "stats": {"avg_open_rate": 0.25}},
    {"id": "c3", "last_changed": "", "tags": [{"id": 7, "name": "Ward 5 — north"}]},
    {"id": "d4", "last_changed": None, "email_address": "d4@example.org"},
    {"id": "e5", "last_changed": "not a time"},
]


def page_of(records: list[dict], key: str = "members") -> JsonPage:
    body = orjson.dumps({key: records, "total_items": len(records)})
    return JsonPage(records, body, key)


def test_a_page_read_from_its_body_matches_the_page_read_from_its_records(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    from_body = json_page_frame(con, "members", page_of(RECORDS), FIELDS, "b1").to_pandas()
    parsed = raw_frame(
        "members",
        [r["id"] for r in RECORDS],
        [r["last_changed"] for r in RECORDS],
        RECORDS,
        "b1",
    )
    assert list(from_body.columns) == list(parsed.columns)
    assert list(from_body["record_id"]) == list(parsed["record_id"])
    assert from_body["modified_at"].equals(
        parsed["modified_at"].astype(from_body["modified_at"].dtype)
    )
    assert [orjson.loads(p) for p in from_body["payload"]] == RECORDS  # unicode kept as sent
    assert set(from_body["resource"]) == {"members"} and set(from_body["batch_id"]) == {"b1"}


def test_a_path_that_is_not_a_plain_json_path_is_refused(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    with pytest.raises(ValueError, match="not a simple JSON path"):
        json_page_frame(con, "members", page_of(RECORDS), ("$.id'; DROP TABLE x; --", "$.t"), "b")
    with pytest.raises(ValueError, match="not a JSON key"):
        json_page_frame(con, "members", page_of(RECORDS, key="mem bers"), FIELDS, "b")


def land(con, pages: list[list[dict]]) -> None:
    land_pages(
        con,
        table="raw_mailchimp",
        source="mailchimp",
        resource="members",
        pages=lambda since, first: iter(pages[first - 1 :]),
        record_id=lambda m: m.get("id"),
        modified=lambda m: m.get("last_changed"),
        batch_id="b1",
        log=lambda _: None,
        json_fields=FIELDS,
    )


def test_json_pages_land_every_record_and_move_the_watermark_to_the_newest(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    land(con, [page_of(RECORDS[:2]), page_of(RECORDS[2:])])
    rows = con.execute(
        "SELECT record_id, payload ->> '$.merge_fields.FNAME' FROM raw_mailchimp ORDER BY 1"
    ).fetchall()
    assert rows == [("a1", "Zoë"), ("b2", None), ("c3", None), ("d4", None), ("e5", None)]
    watermark = con.execute(
        "SELECT cursor_value FROM sync_cursors WHERE resource = 'members'"
    ).fetchone()[0]
    assert watermark.startswith("2025-03-04T05:06:07")  # the latest change, in UTC


def test_a_record_without_an_id_sends_its_page_the_parsed_way_without_it(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    land(con, [page_of([RECORDS[0], {"last_changed": "2025-01-01T00:00:00+00:00"}])])
    assert con.execute("SELECT list(record_id) FROM raw_mailchimp").fetchone()[0] == ["a1"]
