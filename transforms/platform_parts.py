"""Running the SQL every registered platform adds to a shared step (warehouse/platform_sql.py
lists the roles): each file is a step file of its own, checked by its header, and what the
platforms write under one name (`stage.<part>_<platform>`) is read as one view."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from transforms import steps
from warehouse import platform_sql


def run_role(
    con: duckdb.DuckDBPyConnection,
    role: str,
    parts: Mapping[str, str] | None = None,
    params: Mapping[str, object] | None = None,
    required: str | None = None,
) -> dict[str, list[str]]:
    """Run each platform's `role` SQL; returns, per part in `parts`, the
    `stage.<part>_<platform>` names the files declared they write. `required`: a part every
    file must write. Each file gets only the `params` its header names."""
    written: dict[str, list[str]] = {part: [] for part in parts or {}}
    for platform, path in platform_sql.files(role).items():
        declared = steps.header(path)
        writes = declared.get("writes", ())
        if required and f"{steps.STAGE}.{required}_{platform}" not in writes:
            raise ValueError(
                f"{path}: a platform's {role} SQL writes {steps.STAGE}.{required}_{platform}"
            )
        wanted = declared.get("params", ())
        steps.run_file(con, path, {k: v for k, v in (params or {}).items() if f"${k}" in wanted})
        for part in written:
            if f"{steps.STAGE}.{part}_{platform}" in writes:
                written[part].append(f"{steps.STAGE}.{part}_{platform}")
    return written


def union_sql(shape: str, names: list[str]) -> str:
    """One query over every platform's part, typed by `shape` (`NULL::T AS column, ...`)
    so that it has its columns when no platform wrote one."""
    return " UNION ALL BY NAME ".join(
        [f"SELECT {shape} WHERE false", *(f"SELECT * FROM {name}" for name in names)]
    )


def union_view(con: duckdb.DuckDBPyConnection, target: str, shape: str, names: list[str]) -> None:
    """`target` as a view over every platform's part (see union_sql)."""
    con.execute(f"CREATE OR REPLACE VIEW {target} AS {union_sql(shape, names)}")
