"""Landing Action Network: people and every action collection incrementally by
modified_date; tags, taggings, lists and custom fields whole."""

from __future__ import annotations

import duckdb

from connectors.action_network import (
    ACTION_RESOURCES,
    ActionNetworkClient,
    person_uuid,
    uuid_from_href,
)
from pipelines.landing.pages import LandingReport, Log, land_pages, land_whole


def land_action_network_people(
    con: duckdb.DuckDBPyConnection, client: ActionNetworkClient, batch_id: str, log: Log
) -> LandingReport:
    return _land_an_collection(con, client, "people", batch_id, log)


def land_action_network_actions(
    con: duckdb.DuckDBPyConnection, client: ActionNetworkClient, batch_id: str, log: Log
) -> dict[str, LandingReport]:
    """Petitions, events, forms, fundraising pages and advocacy campaigns, incrementally by
    modified_date, then each one's actions (signatures, attendances, submissions, donations,
    outreaches) as a stream with its own watermark and checkpoint."""
    reports: dict[str, LandingReport] = {}
    for collection, actions in ACTION_RESOURCES.items():
        reports[collection] = _land_an_collection(con, client, collection, batch_id, log)
        object_ids = [
            row[0]
            for row in con.execute(
                "SELECT DISTINCT record_id FROM raw_action_network WHERE resource = ? ORDER BY 1",
                [collection],
            ).fetchall()
        ]
        total = LandingReport(incremental=True)
        for object_id in object_ids:
            path = f"{collection}/{object_id}/{actions}"
            report = _land_an_collection(
                con, client, path, batch_id, log, resource=actions, embedded=f"osdi:{actions}"
            )
            total.pages += report.pages
            total.records += report.records
            total.incremental = total.incremental and report.incremental
        reports[actions] = total
    return reports


def _land_an_collection(
    con: duckdb.DuckDBPyConnection,
    client: ActionNetworkClient,
    path: str,
    batch_id: str,
    log: Log,
    *,
    resource: str | None = None,
    embedded: str | None = None,
) -> LandingReport:
    resource = resource or path
    embedded = embedded or f"osdi:{path}"
    return land_pages(
        con,
        table="raw_action_network",
        source="action_network",
        resource=resource,
        cursor=path,
        pages=lambda since, first: client.iter_pages(
            path, embedded, modified_since=since, first_page=first
        ),
        record_id=person_uuid,
        modified=lambda r: r.get("modified_date"),
        batch_id=batch_id,
        log=log,
    )


def land_action_network_whole(
    con: duckdb.DuckDBPyConnection, client: ActionNetworkClient, batch_id: str, log: Log
) -> dict[str, int]:
    """Tags, their taggings, lists and custom field names have no change filter: each run
    reads them whole. The batch of the last complete read is the current state, so a
    tagging that is gone is gone (see `current_batch`)."""
    tags = [tag for page in client.iter_pages("tags", "osdi:tags") for tag in page]
    lists = [item for page in client.iter_pages("lists", "osdi:lists") for item in page]
    taggings: list[dict] = []
    for tag in tags:
        tag_id = person_uuid(tag)
        for page in client.iter_taggings(tag_id):
            for tagging in page:
                links = tagging.get("_links") or {}
                # A tagging holds only links: keep the uuids parsed out of them.
                tagging["groundswell:tag_id"] = tag_id
                tagging["groundswell:person_id"] = uuid_from_href(
                    (links.get("osdi:person") or {}).get("href", "")
                )
                taggings.append(tagging)
    fields = [
        {**field, "identifiers": [f"action_network:custom_field:{field.get('name')}"]}
        for field in client.custom_fields()
    ]
    return land_whole(
        con,
        table="raw_action_network",
        source="action_network",
        resources={"tags": tags, "taggings": taggings, "lists": lists, "custom_fields": fields},
        record_id=person_uuid,
        modified=lambda r: r.get("modified_date"),
        batch_id=batch_id,
    )
