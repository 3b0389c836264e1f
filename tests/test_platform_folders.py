"""Issue 13's check, kept: what is specific to a platform lives in its folder. The shared SQL
and Python of transforms/ read no platform's raw table, and a platform's SQL reads no other
platform's raw table; `grep -rl mailchimp` over the product folders lists only the Mailchimp
folder, its registration and the places that name it as a destination or a source name."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("connectors", "pipelines", "transforms", "warehouse")
RAW = re.compile(r"\braw_(action_network|mailchimp|forms)\b")

# Places that name Mailchimp without holding its code: a destination or source name in the
# typed configuration and the sync rules, the CLI's sandbox summary, comments about the
# shared HTTP layer, and migrations (history, never edited).
NAMES_MAILCHIMP = {
    "connectors/registry.py",
    "connectors/http.py",
    "connectors/push.py",
    "pipelines/__main__.py",
    "transforms/identity_config.py",
    "transforms/ladder_config.py",
    "transforms/sync_config.py",
    "transforms/sync_plan.py",
    "transforms/sync_plan.sql",
    "warehouse/ledger.py",
}


def _files(*folders: str) -> list[Path]:
    return sorted(
        p
        for folder in folders
        for p in (ROOT / folder).rglob("*")
        if p.suffix in (".py", ".sql") and "__pycache__" not in p.parts
    )


def test_shared_transforms_read_no_platform_raw_table():
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _files("transforms")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if RAW.search(line)
    ]
    assert found == [], "platform raw tables read outside connectors/<platform>/: " + ", ".join(
        found
    )


def test_a_platform_reads_only_its_own_raw_table():
    for folder in (ROOT / "connectors").iterdir():
        if not (folder / "__init__.py").is_file() or not list(folder.glob("*.sql")):
            continue
        for path in folder.glob("*.sql"):
            others = {m.group(1) for m in RAW.finditer(path.read_text())} - {folder.name}
            assert not others, f"{path.relative_to(ROOT)} reads raw tables of {sorted(others)}"


def test_mailchimp_is_named_only_where_expected():
    named = {
        str(p.relative_to(ROOT)) for p in _files(*PRODUCT) if "mailchimp" in p.read_text().lower()
    }
    unexpected = sorted(
        n
        for n in named
        if not n.startswith(("connectors/mailchimp/", "warehouse/migrations/"))
        and n not in NAMES_MAILCHIMP
    )
    assert unexpected == [], f"Mailchimp named outside its folder: {unexpected}"
