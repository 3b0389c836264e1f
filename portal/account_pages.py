"""The pages of getting in and out: sign-in, sign-out, setting a password from an
invitation, and the health check."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from portal.auth import WHY, Auth
from portal.middleware import SESSION_COOKIE, cookie_header, expired_cookie_header

NOTICES = {
    **WHY,
    "signed_out": "You are signed out.",
    "password_set": "Your password is set: sign in with your email address and new password.",
}
INVITATION_PROBLEMS = {
    "unknown": (
        404,
        "This invitation link is not known",
        "The link may be mistyped or cut short. Ask the volunteer who runs Groundswell "
        "for a new invitation.",
    ),
    "used": (
        410,
        "This invitation link has been used",
        "Each invitation works once, and a newer one replaces it. If you set your password "
        "already, sign in; otherwise ask the volunteer who runs Groundswell for a new "
        "invitation.",
    ),
    "expired": (
        410,
        "This invitation link has expired",
        "Invitations work for 7 days. Ask the volunteer who runs Groundswell for a new invitation.",
    ),
}


def _auth(request: Request) -> Auth:
    return request.app.state.auth


def _render(request: Request, template: str, context: dict, status: int = 200) -> Response:
    return request.app.state.render(request, template, context, status)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only, never another host."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


async def sign_in_page(request: Request) -> Response:
    if request.state.user is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    why = request.query_params.get("why", "")
    return _render(
        request,
        "sign_in.html",
        {
            "notice": NOTICES.get(why),
            "error": None,
            "email": "",
            "next": safe_next(request.query_params.get("next")),
        },
    )


async def sign_in(request: Request) -> Response:
    form = await request.form()
    email = str(form.get("email", ""))
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    address = request.client.host if request.client else ""
    result = await run_in_threadpool(_auth(request).sign_in, email, password, address)
    if result.session_id is None:
        context = {"notice": None, "error": result.message, "email": email, "next": target}
        return _render(request, "sign_in.html", context, result.status)
    # A session this browser already had ends: the new one has a new id (no fixation).
    old = getattr(request.state, "session_id", None)
    if old:
        _auth(request).sign_out(old)
    response = RedirectResponse(target, status_code=303)
    cookie = request.app.state.keys.session_cookie(result.session_id)
    response.headers.append("set-cookie", cookie_header(SESSION_COOKIE, cookie))
    return response


async def sign_out(request: Request) -> Response:
    session_id = request.state.session_id
    request.app.state.audit(request, "sign_out")
    _auth(request).sign_out(session_id)
    response = RedirectResponse("/sign-in?why=signed_out", status_code=303)
    response.headers.append("set-cookie", expired_cookie_header(SESSION_COOKIE))
    return response


async def invitation_page(request: Request) -> Response:
    found, state = _auth(request).invitation(request.path_params["token"])
    if found is None or state != "ok":
        return _invitation_problem(request, state)
    return _render(request, "set_password.html", {"email": found.email, "error": None})


async def set_password(request: Request) -> Response:
    token = request.path_params["token"]
    auth = _auth(request)
    found, state = auth.invitation(token)
    if found is None or state != "ok":
        return _invitation_problem(request, state)
    form = await request.form()
    password = str(form.get("password", ""))
    if password != str(form.get("confirm", "")):
        error = "The two passwords differ: type the same one twice."
        return _render(request, "set_password.html", {"email": found.email, "error": error}, 400)
    state, problem = await run_in_threadpool(auth.accept, token, password)
    if state != "ok":
        return _invitation_problem(request, state)
    if problem:
        return _render(request, "set_password.html", {"email": found.email, "error": problem}, 400)
    address = request.client.host if request.client else None
    auth.store.record(auth.clock(), found.email, "password_set", ip=address)
    return RedirectResponse("/sign-in?why=password_set", status_code=303)


def _invitation_problem(request: Request, state: str) -> Response:
    status, title, text = INVITATION_PROBLEMS[state]
    context = {"title": title, "message": text, "link": ("/sign-in", "Go to sign-in")}
    return _render(request, "message.html", context, status)


async def health(request: Request) -> Response:
    request.app.state.store.version()  # the store answers
    return PlainTextResponse("ok")


ROUTES = [
    Route("/sign-in", sign_in_page, methods=["GET"]),
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/sign-out", sign_out, methods=["POST"]),
    Route("/invite/{token}", invitation_page, methods=["GET"]),
    Route("/invite/{token}", set_password, methods=["POST"]),
    Route("/health", health, methods=["GET"]),
]
