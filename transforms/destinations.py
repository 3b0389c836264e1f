"""What each destination held when it was last read: every platform with a
`connectors/<platform>/destination.sql` is a destination, and its file gives its part in
the columns below; the sync plan reads them as one, without naming a platform's tables."""

from __future__ import annotations

import duckdb

from transforms import platform_parts, steps
from warehouse import platform_sql

# part -> its columns. A destination writes `stage.<part>_<platform>` for the parts it has;
# `seen` is required (a destination says what its contacts hold).
PARTS = {
    # The newest copy of each contact: when it was landed, the whole set of its tags as of
    # then (NULL: the copy does not carry them), its fields (a JSON object of name: value)
    # and when it opted in (NULL: unknown).
    "destination_seen": "NULL::VARCHAR AS destination, NULL::VARCHAR AS member_key, "
    "NULL::TIMESTAMP AS seen_at, NULL::VARCHAR[] AS tags, NULL::JSON AS fields, "
    "NULL::TIMESTAMP AS opted_in_at",
    # Tags read apart from the contacts: each contact's tag as of `seen_at` (NULL: not read
    # completely, so nothing is inferred), and the platform's id of it when a removal
    # needs one.
    "destination_taggings": "NULL::VARCHAR AS destination, NULL::VARCHAR AS member_key, "
    "NULL::VARCHAR AS tag, NULL::TIMESTAMP AS seen_at, NULL::VARCHAR AS remote_id",
    # Contacts whose whole set of tags that separate read saw, and when.
    "destination_tag_reads": "NULL::VARCHAR AS destination, NULL::VARCHAR AS member_key, "
    "NULL::TIMESTAMP AS seen_at",
    # Every tag name the platform has (Groundswell's or not).
    "destination_tags": "NULL::VARCHAR AS destination, NULL::VARCHAR AS tag",
    # Every field name it has (e.g. an email platform's merge fields).
    "destination_fields": "NULL::VARCHAR AS destination, NULL::VARCHAR AS field",
}
REQUIRED = "destination_seen"


def read_state(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Step destination_state: each destination's file, then `stage.destinations` (their
    names, in registration order) and one view per part over all of them; returns the
    destinations."""
    steps.require(con, "destination_state")
    written = platform_parts.run_role(con, "destination", PARTS, required=REQUIRED)
    names = list(platform_sql.files("destination"))
    con.execute(
        f"CREATE OR REPLACE TABLE {steps.STAGE}.destinations AS "
        "SELECT unnest(?::VARCHAR[]) AS destination",
        [names],
    )
    for part, shape in PARTS.items():
        platform_parts.union_view(con, f"{steps.STAGE}.{part}", shape, written[part])
    return names
