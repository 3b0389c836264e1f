"""The steps in docs/architecture.md "Adding a platform", walked through for a fourth,
hypothetical platform: one new folder under connectors/ and one line in the registry, in a
copy of the project. The whole Dagster job then lands its people over HTTP, stages them,
unifies them and maps their activities with nobody else's code changed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("connectors", "pipelines", "transforms", "warehouse", "sandbox", "portal")
PEOPLE = [
    {
        "id": "p1",
        "first": "Ada",
        "last": "Okafor",
        "email": "ada@example.org",
        "zip": "78701",
        "updated": "2026-11-01T10:00:00Z",
    },
    {
        "id": "p2",
        "first": "Ben",
        "last": "Ruiz",
        "email": "ben@example.org",
        "zip": "78702",
        "updated": "2026-11-02T10:00:00Z",
    },
    {
        "id": "p3",
        "first": "Cleo",
        "last": "Ng",
        "email": "cleo@example.org",
        "zip": "78703",
        "updated": "2026-11-03T10:00:00Z",
    },
]

# The new folder, exactly as the docs describe it.
FILES = {
    "__init__.py": '''
        """Example: a petition site with a people API (a hypothetical fourth platform)."""

        from __future__ import annotations

        from collections.abc import Mapping
        from pathlib import Path

        from connectors.example import landing
        from connectors.example.client import ExampleClient
        from connectors.example.settings import ExampleSettings
        from connectors.platform import Platform, Source


        def connect(secret: str, settings: Mapping[str, str]) -> ExampleClient:
            return ExampleClient(secret, ExampleSettings.of(settings).EXAMPLE_BASE_URL)


        PLATFORM = Platform(
            name="example",
            title="Example",
            connect=connect,
            folder=Path(__file__).parent,
            settings_model=ExampleSettings,
            secret="EXAMPLE_API_KEY",
            named_in_failures="EXAMPLE_API_KEY and EXAMPLE_BASE_URL",
            kinds=frozenset({"python", "duckdb"}),
            sources=(
                Source(
                    "example_people",
                    "Example's people, landed raw.",
                    lambda con, client, run_id, log, _: landing.land_people(
                        con, client, run_id, log.info
                    ).metadata(),
                ),
            ),
        )
    ''',
    "client.py": '''
        """Example's API on the shared HTTP layer."""

        from __future__ import annotations

        from collections.abc import Iterator

        from connectors.http import HttpClient


        class ExampleClient:
            def __init__(self, api_key: str, base_url: str) -> None:
                self.http = HttpClient(
                    "Example", base_url, headers={"Authorization": f"Bearer {api_key}"}
                )

            def people_pages(self) -> Iterator[list[dict]]:
                page = 1
                while True:
                    body = self.http.request("GET", "people", params={"page": page}) or {}
                    yield body.get("people") or []
                    if not body.get("next"):
                        return
                    page += 1
    ''',
    "landing.py": '''
        """Example's people into raw_example, page by page, with checkpoints."""

        from __future__ import annotations

        from connectors.example.client import ExampleClient
        from connectors.landing import LandingReport, land_pages


        def land_people(con, client: ExampleClient, batch_id: str, log) -> LandingReport:
            return land_pages(
                con,
                table="raw_example",
                source="example",
                resource="people",
                pages=lambda since, first_page: client.people_pages(),
                record_id=lambda r: r.get("id"),
                modified=lambda r: r.get("updated"),
                batch_id=batch_id,
                log=log,
            )
    ''',
    "settings.py": '''
        """Example's settings, each with its default."""

        from __future__ import annotations

        from typing import Annotated

        from pydantic import Field

        from warehouse.env_settings import EnvSettings


        class ExampleSettings(EnvSettings):
            EXAMPLE_API_KEY: Annotated[str, Field(repr=False)] = ""
            EXAMPLE_BASE_URL: str = "https://api.example.org/v1"
    ''',
    "staging.sql": """
        -- step: stage_example
        -- reads: raw_example, utc_ts()
        -- writes: stage.stg_example
        -- params: -
        -- udfs: -
        CREATE OR REPLACE VIEW stage.stg_example AS
        WITH latest AS (
            SELECT record_id, payload, modified_at FROM raw_example
            QUALIFY row_number() OVER (
                PARTITION BY record_id ORDER BY modified_at DESC NULLS LAST, loaded_at DESC) = 1
        )
        SELECT 'example' AS source, record_id AS source_record_id,
               NULL::VARCHAR AS file_name, NULL::INTEGER AS row_number,
               payload ->> '$.first' AS given_name, payload ->> '$.last' AS family_name,
               payload ->> '$.email' AS email_raw, NULL::VARCHAR AS alt_email_raw,
               NULL::VARCHAR AS phone_raw, NULL::VARCHAR AS address_line,
               NULL::VARCHAR AS locality, NULL::VARCHAR AS region,
               payload ->> '$.zip' AS postal_code,
               NULL::VARCHAR AS email_status, NULL::VARCHAR AS phone_status,
               NULL::VARCHAR AS email_consent, NULL::VARCHAR AS sms_consent,
               []::VARCHAR[] AS platform_tags, ['example:' || record_id] AS platform_ids,
               modified_at AS created_at, modified_at
        FROM latest;
    """,
    "activities.sql": """
        -- step: activities_example
        -- reads: stg_source_records, person_sources
        -- writes: stage.activities_example
        -- params: -
        -- udfs: -
        CREATE OR REPLACE TABLE stage.activities_example AS
        SELECT ps.person_id, s.source, s.source_record_id,
               'petition_signature' AS activity_type, s.modified_at AS occurred_at,
               'Example petition' AS object, NULL::VARCHAR AS object_id, 'web' AS channel,
               NULL::DECIMAL(12, 2) AS amount, NULL::BOOLEAN AS recurring,
               NULL::VARCHAR AS detail, true AS referable
        FROM stg_source_records s
        JOIN person_sources ps USING (source, source_record_id)
        WHERE s.source = 'example';
    """,
}
REGISTRATION = "    example.PLATFORM,\n"

RUN = """
import sys
import dagster as dg
import duckdb
from pipelines.definitions import JOB_NAME, build_definitions

defs = build_definitions()
graph = defs.resolve_asset_graph()
assert dg.AssetKey("example_people") in graph.get_all_asset_keys()
result = defs.get_job_def(JOB_NAME).execute_in_process(instance=dg.DagsterInstance.ephemeral())
assert result.success
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute(
    "SELECT count(*), count(DISTINCT person_id) FROM activities "
    "WHERE source = 'example' AND activity_type = 'petition_signature'"
).fetchone())
print(con.execute(
    "SELECT count(DISTINCT person_id) FROM person_sources WHERE source = 'example'"
).fetchone()[0])
"""


class _Api(BaseHTTPRequestHandler):
    def do_GET(self):
        page = int(self.path.rsplit("page=", 1)[-1]) if "page=" in self.path else 1
        body = {"people": PEOPLE[page - 1 : page], "next": page < len(PEOPLE)}
        raw = json.dumps(body).encode()
        self.send_response(200 if self.headers.get("Authorization") == "Bearer k" else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_fourth_platform_is_one_folder_and_one_registration_line(tmp_path, api):
    for name in COPIED:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("ladder.yaml", "identity.yaml", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    folder = tmp_path / "connectors" / "example"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    registry = tmp_path / "connectors" / "registry.py"
    text = registry.read_text()
    anchor = "    forms.PLATFORM,\n"
    assert anchor in text
    registry.write_text(
        text.replace(anchor, anchor + REGISTRATION).replace(
            "from connectors import action_network, forms, mailchimp",
            "from connectors import action_network, example, forms, mailchimp",
        )
    )
    # The layer contracts still hold with the new folder in place.
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert lint.returncode == 0, lint.stdout
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ACTION_NETWORK_", "MAILCHIMP_", "SANDBOX"))
    } | {
        "PYTHONPATH": str(tmp_path),
        "SANDBOX": "off",
        "EXAMPLE_API_KEY": "k",
        "EXAMPLE_BASE_URL": api,
        "WAREHOUSE_PATH": str(warehouse),
        "FORMS_INBOX": str(tmp_path / "data" / "inbox"),
        "EXPORTS_DIR": str(tmp_path / "data" / "exports"),
        "BACKUP_DIR": str(tmp_path / "data" / "backups"),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    (tmp_path / "dagster").mkdir()
    run = subprocess.run(
        [sys.executable, "-c", RUN, str(warehouse)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    signed, placed = run.stdout.strip().splitlines()[-2:]
    # Its activities.sql, registered by the same line: one signature per person.
    assert signed == str((len(PEOPLE), len(PEOPLE)))
    assert placed == str(len(PEOPLE))
