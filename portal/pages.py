"""The portal's data pages: the home page (a team's home, or the list of teams), a team's
home with its ladder and movement charts and its lists, a list's members, its downloads
(CSV and XLSX, the team's part only), search by name, a person's page and HQ's audit page.

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

from portal import charts, context, data
from transforms.exports import safe_name, write_csv, write_xlsx_rendered

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
    return context.render(request, "teams.html", {"teams": teams, "missing": missing})


async def team_home(request: Request) -> Response:
    name = request.path_params["team"]
    found = await _found(request, data.team_home, name)
    for row in found["lists"]:
        row["url"] = list_url(name, row["list_name"])
        row["csv"] = list_url(name, row["list_name"], ".csv")
        row["xlsx"] = list_url(name, row["list_name"], ".xlsx")
    return context.render(
        request,
        "team.html",
        {
            "team": found,
            "ladder": charts.ladder_chart(name, found["rungs"]),
            "movement": charts.movement_chart(name, found["movement"]),
            "periods": charts.PERIOD_NAMES,
            "search_action": "/search",
        },
    )


def _page_number(request: Request) -> int:
    text = request.query_params.get("page", "1")
    return int(text) if text.isdigit() and 0 < int(text) < 1_000_000 else 1


async def list_page(request: Request) -> Response:
    team, name = request.path_params["team"], request.path_params["list_name"]
    page = _page_number(request)
    info = await _found(request, data.list_info, team, name)
    members = await _call(request, data.list_members, team, name, page)
    pages = max(1, -(-int(info["rows"]) // data.PAGE_SIZE))
    for row in members:
        row["url"] = person_url(row["person_id"])
        row["last_action"] = data.date_text(row["last_action_at"])

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
        },
    )


def _csv_bytes(header: list[str], rows: list[list]) -> bytes:
    text = io.StringIO(newline="")
    write_csv(text, header, rows)
    return text.getvalue().encode("utf-8")


def _xlsx_bytes(title: str, header: list[str], rows: list[str]) -> bytes:
    out = io.BytesIO()
    write_xlsx_rendered(out, title, header, rows)  # rows rendered by DuckDB
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
]
