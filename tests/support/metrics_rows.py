"""person_metrics rows written directly, for ladder tests on hand-built people."""

from tests.support.raw import NOW


def put_metrics(con, rows: dict[str, dict]) -> None:
    """person_metrics rows written directly: every column zero, false, empty or NULL unless
    given, so each case names only what its rule reads."""
    columns = con.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'person_metrics' ORDER BY ordinal_position"
    ).fetchall()
    con.execute("DELETE FROM person_metrics")
    for person_id, values in rows.items():
        row = {}
        for name, kind, nullable in columns:
            if name in values:
                row[name] = values[name]
            elif nullable == "YES":
                row[name] = None
            elif kind == "BOOLEAN":
                row[name] = False
            elif kind.endswith("[]"):
                row[name] = []
            elif kind.startswith("TIMESTAMP"):
                row[name] = NOW
            else:
                row[name] = 0
        row["person_id"] = person_id
        names = list(row)
        con.execute(
            f"INSERT INTO person_metrics ({', '.join(names)}) "
            f"VALUES ({', '.join('?' for _ in names)})",
            [row[n] for n in names],
        )
