"""The warehouse's settings: the DuckDB file, its memory cap and where backups go."""

from __future__ import annotations

from typing import Annotated

from warehouse.env_settings import Check, EnvSettings, number


def _memory_limit(_name: str, text: str, _default: str) -> str | None:
    from warehouse.connection import memory_limit_problem  # DuckDB itself is asked

    problem = memory_limit_problem(text)
    return problem + "." if problem else None


class WarehouseSettings(EnvSettings):
    """The DuckDB warehouse file and its limits."""

    WAREHOUSE_PATH: str = "data/warehouse.duckdb"
    # e.g. 3GB on a small machine; beyond it large joins spill to disk. Unset: 80% of RAM.
    DUCKDB_MEMORY_LIMIT: Annotated[str, Check(_memory_limit)] = ""
    BACKUP_DIR: str = "data/backups"
    BACKUP_KEEP_DAILY: Annotated[int, number("daily warehouse backups kept, 1-365", 1, 365)] = 7
    BACKUP_KEEP_WEEKLY: Annotated[int, number("weekly warehouse backups kept, 0-520", 0, 520)] = 4
    # The organiser portal's read-only copy, written at the end of each run and swapped in.
    PORTAL_SNAPSHOT: str = "data/portal/snapshot.duckdb"
