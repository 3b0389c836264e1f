"""Landing Action Network: people and every action collection incrementally by
modified_date; tags, taggings, lists and custom fields whole."""

from __future__ import annotations

import duckdb

from connectors.action_network.client import (
    ACTION_RESOURCES,
    PLATFORM,
    ActionNetworkClient,
    person_uuid,
    uuid_from_href,
)
from connectors.errors import NotFoundError, NotFoundPageError, PlatformError
from connectors.landing import (
    LandingReport,
    Log,
    land_pages,
    land_whole,
    note_found,
    note_not_found,
)
from warehouse.load import transaction

SOURCE = "action_network"


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
        _listed_again(con, collection, batch_id)
        total = LandingReport(incremental=True)
        objects = _objects_to_read(con, collection)
        html_404: list[str] = []
        for object_id in objects:
            try:
                report = _land_actions_of(con, client, collection, object_id, batch_id, log)
            except NotFoundPageError as exc:
                # Action Network answers an unknown id with its HTML 404 page (PLATFORMS.md),
                # and so does a passing fault; the page came through every retry.
                _api_answers_or_raise(client, exc)
                html_404.append(object_id)
                continue
            if report is None:
                continue
            total.pages += report.pages
            total.records += report.records
            total.incremental = total.incremental and report.incremental
        _objects_not_found(con, collection, objects, html_404, batch_id, log)
        reports[actions] = total
    return reports


# When every object of a collection (at least this many) answers the HTML page while the
# API root answers, that part of the API is down: nothing is marked missing.
OUTAGE_AT_LEAST = 3


def _objects_not_found(
    con: duckdb.DuckDBPyConnection,
    collection: str,
    objects: list[str],
    html_404: list[str],
    batch_id: str,
    log: Log,
) -> None:
    """Mark the objects whose actions answered the HTML 404 page as missing (gone after a
    later run), unless so many did that it is an outage: then raise, marking nothing."""
    if not html_404:
        return
    if len(html_404) >= OUTAGE_AT_LEAST and len(html_404) == len(objects):
        raise NotFoundPageError(
            PLATFORM,
            f"{len(html_404)} of {len(objects)} {collection} answered 404 with an HTML page "
            "while the API root answered: that is an outage of that part of the API, not "
            "deletions, so nothing is marked; everything landed stays and the next run reads "
            "them from where they stopped",
            404,
        )
    _note_missing(con, collection, html_404, batch_id, log)


def _listed_again(con: duckdb.DuckDBPyConnection, collection: str, batch_id: str) -> None:
    """Objects the collection listed in this run exist: no longer missing, nor gone."""
    with transaction(con):
        con.execute(
            """
            DELETE FROM missing_records
            WHERE source = 'action_network' AND resource = ? AND record_id IN (
                SELECT record_id FROM raw_action_network WHERE resource = ? AND batch_id = ?)
            """,
            [collection, collection, batch_id],
        )


def _objects_to_read(con: duckdb.DuckDBPyConnection, collection: str) -> list[str]:
    """Every object of a collection landed so far, except those confirmed gone."""
    rows = con.execute(
        """
        SELECT DISTINCT record_id FROM raw_action_network WHERE resource = ?
        EXCEPT
        SELECT record_id FROM missing_records
        WHERE source = 'action_network' AND resource = ? AND gone_at IS NOT NULL
        ORDER BY 1
        """,
        [collection, collection],
    ).fetchall()
    return [row[0] for row in rows]


def _land_actions_of(
    con: duckdb.DuckDBPyConnection,
    client: ActionNetworkClient,
    collection: str,
    object_id: str,
    batch_id: str,
    log: Log,
) -> LandingReport | None:
    """One object's actions from their watermark; None when Action Network's JSON error says
    the object is not found (NotFoundPageError, its HTML page, reaches the caller)."""
    actions = ACTION_RESOURCES[collection]
    path = f"{collection}/{object_id}/{actions}"
    try:
        report = _land_an_collection(
            con, client, path, batch_id, log, resource=actions, embedded=f"osdi:{actions}"
        )
    except NotFoundError:
        _note_missing(con, collection, [object_id], batch_id, log)
        return None
    note_found(con, SOURCE, collection, [object_id])  # one statement: atomic on its own
    return report


def _note_missing(
    con: duckdb.DuckDBPyConnection, collection: str, ids: list[str], batch_id: str, log: Log
) -> None:
    """Action Network said these objects are not found: missing now, gone when a later run
    hears it again. What landed for them stays."""
    with transaction(con):
        gone = note_not_found(con, SOURCE, collection, ids, batch_id)
    missing = len(ids) - len(gone)
    if missing:
        log(
            f"Action Network: {missing} of the {collection} not found; the next run looks "
            f"again before treating them as deleted; their {ACTION_RESOURCES[collection]} "
            "already landed stay"
        )
    if gone:
        log(
            f"Action Network: {len(gone)} of the {collection} not found in two runs: treated "
            "as deleted and not asked for again; what landed stays"
        )


def _api_answers_or_raise(client: ActionNetworkClient, error: NotFoundPageError) -> None:
    """The API root answers in JSON, or the object's 404 was part of an outage: raise it."""
    try:
        client.entry_point()
    except PlatformError:
        raise error from None


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
