"""The portal's data pages: the home page (a team's home, or the list of teams; for HQ also
which asks work across the organisation and team by team), a team's home with its ladder
and movement charts, its lists and which of their asks work, a list's members (with a form per
person to record an outcome, and an upload of the filled-in download), its downloads
(CSV and XLSX, the team's part only, with outcome columns to fill in), search by name, a
person's page and HQ's audit page.

Every handler asks portal/data.py with the teams the signed-in user may see; anything
outside them answers 404, exactly as something that does not exist does."""

from __future__ import annotations

import io
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal import charts, context, data, outcomes, service_status
from portal.store import NewOutcome
from transforms import xlsx
from transforms.exports import safe_name, write_csv

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
AUDIT_LIMIT = 500
SEARCH_MAX = 200  # characters of a search kept


def snapshot_of(request: Request) -> data.Snapshot:
    """The snapshot `create_app` opened (PORTAL_SNAPSHOT)."""
    return request.app.state.snapshot


def visible(request: Request) -> tuple[str, ...] | None:
    """The teams the user may see: None for HQ (every team)."""
    user = context.user(request)
    return None if user.is_hq else tuple(user.teams)


def not_found() -> HTTPException:
    return HTTPException(status_code=404)


def team_url(team: str) -> str:
    return "/teams/" + quote(team, safe="")


def list_url(team: str, list_name: str, suffix: str = "") -> str:
    return f"{team_url(team)}/lists/{quote(list_name, safe='')}{suffix}"


def person_url(person_id: str) -> str:
    return "/people/" + quote(person_id, safe="")


def no_data(request: Request, exc: Exception | None = None) -> Response:
    """The page for any request while no snapshot has been published (create_app registers
    it for data.SnapshotMissing)."""
    return context.render(
        request,
        "message.html",
        {
            "title": "No data yet",
            "message": "The portal's data has not been published yet. It appears after the "
            "next pipeline run (make run).",
            "link": None,
        },
        503,
    )


async def _call(request: Request, function, *args):
    """A data query in the thread pool (DuckDB blocks); data.SnapshotMissing when none has
    been published (answered by `no_data`)."""
    snap = snapshot_of(request)
    return await run_in_threadpool(function, snap, visible(request), *args)


async def _found(request: Request, function, *args):
    """`_call`, answering 404 when the query finds nothing the user may see."""
    found = await _call(request, function, *args)
    if found is None:
        raise not_found()
    return found


async def home(request: Request) -> Response:
    """One team: its home. Several, or HQ: the list of teams."""
    teams = await _call(request, data.teams)
    user = context.user(request)
    if not user.is_hq and len(teams) == 1:
        return RedirectResponse(team_url(teams[0]["team"]), status_code=303)
    for row in teams:
        row["url"] = team_url(row["team"])
    missing = [] if user.is_hq else [t for t in user.teams if t not in {r["team"] for r in teams}]
    shown = {"teams": teams, "missing": missing, "asks": None, "by_team": []}
    if user.is_hq:  # which asks work across the organisation, then team by team
        period = _period(request)
        found = await _call(request, data.organisation_conversion, period)
        shown["asks"] = _asks(found, "the whole organisation", period, "/", whole=True)
        by_team = await _call(request, data.conversion_by_team, period)
        for item in by_team:
            item["teams"] = charts.conversion_rows(item["teams"], period)
            for row in item["teams"]:
                row["url"] = team_url(row["team"]) + "#asks"
        shown["by_team"] = by_team
        shown["service"] = _service(request)
    return context.render(request, "teams.html", shown)


def _service(request: Request) -> dict:
    """HQ's table of the service's status (make status), as the pipelines last wrote it."""
    status = service_status.read_status(service_status.status_path(snapshot_of(request).path))
    if status is None:
        return {"rows": [], "checked_at": None}
    return {"rows": service_status.rows(status), "checked_at": status.get("checked_at")}


def _period(request: Request) -> str:
    """The period of entry the "Which asks work" panel shows: `?period=30d`, else 90 days
    (anything else is ignored)."""
    asked = request.query_params.get("period", "")
    return asked if asked in data.CONVERSION_PERIODS else data.CONVERSION_PERIODS[0]


def _asks(found: dict, scope: str, period: str, url: str, whole: bool = False) -> dict:
    """The "Which asks work" panel's context (templates/_charts.html asks_panel)."""
    rows = charts.conversion_rows(found["lists"], period)
    return {
        "days": charts.CONVERSION_PERIODS[period],
        "measured": found["measured_at"] is not None,
        # The switch, unless nothing was ever measured (on another period: the way back).
        "switch": found["measured_at"] is not None or period != data.CONVERSION_PERIODS[0],
        "rows": rows,
        "chart": charts.conversion_chart("asks-chart", scope, rows, period),
        "scope_note": "across the whole organisation" if whole else "",
        "periods": [
            (f"{days} days", f"{url}?{urlencode({'period': name})}#asks", name == period)
            for name, days in charts.CONVERSION_PERIODS.items()
        ],
    }


async def team_home(request: Request) -> Response:
    name = request.path_params["team"]
    found = await _found(request, data.team_home, name)
    for row in found["lists"]:
        row["url"] = list_url(name, row["list_name"])
        row["csv"] = list_url(name, row["list_name"], ".csv")
        row["xlsx"] = list_url(name, row["list_name"], ".xlsx")
    period = _period(request)
    conversion = await _found(request, data.conversion, name, period)
    return context.render(
        request,
        "team.html",
        {
            "team": found,
            "asks": _asks(conversion, name, period, team_url(name)),
            "ladder": charts.ladder_chart(name, found["rungs"]),
            "movement": charts.movement_chart(name, found["movement"]),
            "periods": charts.PERIOD_NAMES,
            "search_action": "/search",
        },
    )


def _page_number(request: Request) -> int:
    text = request.query_params.get("page", "1")
    return int(text) if text.isdigit() and 0 < int(text) < 1_000_000 else 1


def _today(request: Request):
    """The earliest follow-up date allowed now (portal/outcomes.py earliest_today)."""
    return outcomes.earliest_today(request.app.state.auth.clock())


async def list_page(request: Request) -> Response:
    return await _list_page(request, _page_number(request))


async def _list_page(
    request: Request,
    page: int,
    error: str | None = None,
    status: int = 200,
    refused_for: str | None = None,
) -> Response:
    """A page of a list: its people, each with their latest outcome and a form to record
    one; `error` says why the outcome for `refused_for` (a person_id) was refused, and
    that person's form is shown open (the page names their row, never them)."""
    team, name = request.path_params["team"], request.path_params["list_name"]
    info = await _found(request, data.list_info, team, name)
    members = await _call(request, data.list_members, team, name, page)
    pages = max(1, -(-int(info["rows"]) // data.PAGE_SIZE))
    latest = await run_in_threadpool(
        request.app.state.store.latest_outcomes, team, name, [m["person_id"] for m in members]
    )
    error_row = None
    for number, row in enumerate(members, start=1):
        row["open"] = row["person_id"] == refused_for
        error_row = number if row["open"] else error_row
        row["url"] = person_url(row["person_id"])
        row["last_action"] = data.date_text(row["last_action_at"])
        found = latest.get(row["person_id"])
        row["outcome"] = (
            {
                "label": outcomes.LABELS[found.outcome],
                "at": found.recorded_at.strftime("%Y-%m-%d"),
                "follow_up": found.follow_up.isoformat() if found.follow_up else "",
            }
            if found
            else None
        )

    def page_link(n: int) -> str:
        return list_url(team, name) + "?" + urlencode({"page": n})

    return context.render(
        request,
        "list.html",
        {
            "team": team,
            "team_url": team_url(team),
            "list": info,
            "members": members,
            "page": page,
            "pages": pages,
            "first_row": (page - 1) * data.PAGE_SIZE + 1,
            "previous": page_link(page - 1) if page > 1 else None,
            "next": page_link(page + 1) if page < pages else None,
            "csv": list_url(team, name, ".csv"),
            "xlsx": list_url(team, name, ".xlsx"),
            "record_action": list_url(team, name, "/outcomes"),
            "upload_action": list_url(team, name, "/upload"),
            "choices": [(word, outcomes.LABELS[word]) for word in outcomes.OUTCOMES],
            "note_max": outcomes.NOTE_MAX,
            "today": _today(request).isoformat(),
            "upload_mb": outcomes.MAX_UPLOAD_BYTES // (1024 * 1024),
            "error": error,
            "error_row": error_row,
            "recorded": request.query_params.get("recorded") == "1",
        },
        status,
    )


def _field(form, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def record_outcome(request: Request) -> Response:
    """One outcome from the list page's form: 404 unless the person is on the team's part
    of the list the user sees; a refused value shows the list page again, saying why."""
    team, name = request.path_params["team"], request.path_params["list_name"]
    form = await request.form()
    person_id = _field(form, "person_id")
    page = int(_field(form, "page")) if _field(form, "page").isdigit() else 1
    page = page if 0 < page < 1_000_000 else 1
    if not person_id or not await _call(request, data.on_list, team, name, person_id):
        raise not_found()
    checked = outcomes.check(
        person_id,
        _field(form, "outcome"),
        _field(form, "follow_up"),
        _field(form, "note"),
        _today(request),
    )
    if isinstance(checked, str):
        return await _list_page(request, page, checked, 400, refused_for=person_id)
    recorded = await _record(request, team, name, [checked], "page")
    if recorded:
        context.audit(request, "outcome", team=team, list_name=name, person_id=person_id)
    target = list_url(team, name) + "?" + urlencode({"page": page, "recorded": 1})
    return RedirectResponse(target, status_code=303)


async def _record(
    request: Request, team: str, name: str, items: list[NewOutcome], via: str
) -> list[NewOutcome]:
    store = request.app.state.store
    email = context.user(request).email
    now = request.app.state.auth.clock()
    return await run_in_threadpool(store.record_outcomes, now, email, team, name, items, via)


async def upload_outcomes(request: Request) -> Response:
    """A filled-in download (XLSX or CSV): good rows recorded, the others refused by row
    number with the reason; a file missing a column is refused whole."""
    team, name = request.path_params["team"], request.path_params["list_name"]
    await _found(request, data.list_info, team, name)
    form = await request.form(max_files=1, max_fields=10)
    sent = form.get("file")
    page_context = {
        "team": team,
        "list_name": name,
        "list_url": list_url(team, name),
        "upload_mb": outcomes.MAX_UPLOAD_BYTES // (1024 * 1024),
    }
    try:
        if sent is None or isinstance(sent, str) or not sent.filename:
            raise outcomes.UploadRefused("No file was chosen: choose the filled-in file.")
        content = await sent.read(outcomes.MAX_UPLOAD_BYTES + 1)
        checked = await run_in_threadpool(_checked, sent.filename, content, _today(request))
    except outcomes.UploadRefused as refused:
        context.audit(request, "outcome_upload", team=team, list_name=name, rows=0)
        return context.render(
            request, "upload.html", {**page_context, "problem": str(refused)}, refused.status
        )
    finally:
        await form.close()
    ids = [item.person_id for _, item in checked.good]
    found = await _found(request, data.placed, team, name, ids)
    outcomes.place(checked, *found, team)
    recorded = await _record(request, team, name, [item for _, item in checked.good], "upload")
    context.audit(request, "outcome_upload", team=team, list_name=name, rows=len(recorded))
    return context.render(
        request,
        "upload.html",
        {
            **page_context,
            "problem": None,
            "recorded": len(recorded),
            "already": len(checked.good) - len(recorded),
            "blank": checked.blank,
            "refused": checked.refused,
        },
    )


def _checked(filename: str, content: bytes, today) -> outcomes.Checked:
    """An uploaded file read and its rows checked (in a worker thread: it can be long)."""
    return outcomes.check_rows(outcomes.read_table(filename, content), today)


def _csv_bytes(header: list[str], rows: list[list]) -> bytes:
    text = io.StringIO(newline="")
    write_csv(text, header, rows)
    return text.getvalue().encode("utf-8")


def _xlsx_bytes(title: str, header: list[str], rows: list[str]) -> bytes:
    out = io.BytesIO()
    # A drop-down of the outcome words on the outcome column (outcome, follow_up and note
    # are the last three: data.outcome_columns).
    choices = xlsx.ListValidation(
        header.index("outcome", len(header) - 3),
        outcomes.OUTCOMES,
        "Not an outcome",
        "Choose one of: " + ", ".join(outcomes.OUTCOMES) + ".",
    )
    xlsx.write_rendered(out, title, header, rows, [choices])  # rows rendered by DuckDB
    return out.getvalue()


async def download_csv(request: Request) -> Response:
    return await download(request, "csv")


async def download_xlsx(request: Request) -> Response:
    return await download(request, "xlsx")


async def download(request: Request, kind: str) -> Response:
    """The team's part of a list, as the exports write it; audited with its row count."""
    team, name = request.path_params["team"], request.path_params["list_name"]
    query = data.download_rows if kind == "csv" else data.download_xlsx_rows
    found = await _found(request, query, team, name)
    header, rows = found
    if kind == "csv":
        body = await run_in_threadpool(_csv_bytes, header, rows)
        media = CSV_TYPE
    else:
        body = await run_in_threadpool(_xlsx_bytes, name, header, rows)
        media = XLSX_TYPE
    context.audit(request, "download", team=team, list_name=f"{name}.{kind}", rows=len(rows))
    filename = f"{name}-{safe_name(team) or 'team'}.{kind}"
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


async def search_page(request: Request) -> Response:
    text = request.query_params.get("q", "")[:SEARCH_MAX]
    found = await _call(request, data.search, text) if text.strip() else []
    for row in found:
        row["url"] = person_url(row["person_id"])
    return context.render(request, "search.html", {"q": text, "results": found})


async def person_page(request: Request) -> Response:
    person_id = request.path_params["person_id"]
    found = await _found(request, data.person, person_id)
    context.audit(request, "person_view", team=found["teams"][0], person_id=person_id)
    for row in found["lists"]:
        row["url"] = list_url(row["team"], row["list_name"])
    found["team_links"] = [(t, team_url(t)) for t in found["teams"]]
    found["last_action"] = data.date_text(found.get("last_action_at"))
    found["first_seen_text"] = data.date_text(found.get("first_seen"))
    return context.render(request, "person.html", {"person": found})


async def audit_page(request: Request) -> Response:
    """HQ only; for anyone else the page does not exist."""
    if not context.user(request).is_hq:
        raise not_found()
    events = await run_in_threadpool(request.app.state.store.audit_events, limit=AUDIT_LIMIT)
    rows = [
        {
            "at": e.at.strftime("%Y-%m-%d %H:%M:%S"),
            "actor": e.actor or "",
            "event": e.event,
            "team": e.team or "",
            "list_name": e.list_name or "",
            "rows": "" if e.rows is None else e.rows,
            "person_id": e.person_id or "",
        }
        for e in events
    ]
    return context.render(request, "audit.html", {"events": rows, "limit": AUDIT_LIMIT})


ROUTES: list[Route] = [
    Route("/", home, methods=["GET"]),
    Route("/search", search_page, methods=["GET"]),
    Route("/audit", audit_page, methods=["GET"]),
    Route("/people/{person_id}", person_page, methods=["GET"]),
    Route("/teams/{team}", team_home, methods=["GET"]),
    # Downloads before the list page, whose pattern would also match `name.csv`.
    Route("/teams/{team}/lists/{list_name}.csv", download_csv, methods=["GET"]),
    Route("/teams/{team}/lists/{list_name}.xlsx", download_xlsx, methods=["GET"]),
    Route("/teams/{team}/lists/{list_name}", list_page, methods=["GET"]),
    Route("/teams/{team}/lists/{list_name}/outcomes", record_outcome, methods=["POST"]),
    Route("/teams/{team}/lists/{list_name}/upload", upload_outcomes, methods=["POST"]),
]
