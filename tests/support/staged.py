"""A generated organisation landed raw and staged, ready for identity: what the tests of
probabilistic scoring share (enough records to train Splink on)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb


@contextmanager
def staged_organisation(
    workdir: Path, people: int = 1400, seed: int = 11
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The sandbox organisation of `people` (seed `seed`) landed into a warehouse in
    `workdir` and staged; the open connection, closed afterwards."""
    from bench.identity_support import land_organisation
    from sandbox.generator import generate
    from transforms.normalise import build_staging
    from warehouse.connection import connect

    path = workdir / "warehouse.duckdb"
    land_organisation(generate(people, seed), path, workdir)
    con = connect(path)
    try:
        build_staging(con, "US")
        yield con
    finally:
        con.close()
