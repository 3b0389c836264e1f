"""Pages from portal/templates (Jinja2, autoescaped), with what the base layout needs
filled in: the CSRF token, the signed-in user and when the data was last refreshed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

TEMPLATES = Path(__file__).with_name("templates")
PRODUCT = "Groundswell organiser portal"


def refreshed_text(value: object) -> str:
    """When the data was last refreshed, as shown in the footer ('never' when unknown)."""
    if value is None or value == "":
        return "never"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M %Z").strip()
    return str(value)


class Renderer:
    """`render(request, template, context, status)` for every module's pages."""

    def __init__(self, directory: Path = TEMPLATES) -> None:
        self.env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )

    def __call__(
        self, request: Request, template: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        state = request.scope.get("state", {})
        refreshed = getattr(request.app.state, "refreshed_at", None)
        filled = {
            "request": request,
            "product": PRODUCT,
            "user": state.get("user"),
            "csrf_token": state.get("csrf_token", ""),
            "refreshed_at": refreshed_text(refreshed() if refreshed else None),
            **context,
        }
        html = self.env.get_template(template).render(filled)
        return HTMLResponse(html, status_code=status)
