"""`python -m portal serve | invite EMAIL [--role hq] [--again] | revoke EMAIL`."""

from __future__ import annotations

import argparse
import sys

from dotenv import load_dotenv

from portal.context import HQ, ORGANISER
from portal.settings import PortalSettings
from portal.store_db import StoreUnavailable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the portal (127.0.0.1:8000 by default)")
    serve.add_argument("--host", help="address to listen on (default PORTAL_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default PORTAL_PORT, 8000)")
    invite = commands.add_parser("invite", help="print a single-use link to set a password")
    invite.add_argument("email")
    invite.add_argument("--role", choices=(ORGANISER, HQ), default=ORGANISER)
    invite.add_argument(
        "--again", action="store_true", help="invite an address that already has an account"
    )
    revoke = commands.add_parser("revoke", help="end an account's access at once")
    revoke.add_argument("email")
    args = parser.parse_args(argv)

    if args.command != "serve" and not args.email.strip():
        print(f"Give the address: make {args.command} EMAIL=name@example.org", file=sys.stderr)
        return 2
    load_dotenv(".env", override=False)
    problems = [problem for _, problem in PortalSettings.problems()]
    if problems:
        print(
            "The portal cannot start until these settings are fixed (in .env or the",
            file=sys.stderr,
        )
        print("environment):\n" + "\n".join(f"- {p}" for p in problems), file=sys.stderr)
        return 2
    settings = PortalSettings()
    try:
        if args.command == "serve":
            return _serve(
                settings, args.host or settings.PORTAL_HOST, args.port or settings.PORTAL_PORT
            )
        if args.command == "invite":
            return _invite(settings, args.email, args.role, args.again)
        return _revoke(settings, args.email)
    except StoreUnavailable as exc:  # PORTAL_DB in PostgreSQL, and the server is down
        print(exc, file=sys.stderr)
        return 2


def _serve(settings: PortalSettings, host: str, port: int) -> int:
    import uvicorn

    from portal.access_log import log_config
    from portal.app import create_app

    print(f"Groundswell organiser portal on http://{host}:{port} (Ctrl-C stops it)", flush=True)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=log_config(),
        server_header=False,
        # X-Forwarded-Proto from a proxy on this machine (Caddy) marks requests as HTTPS.
        proxy_headers=True,
    )
    return 0


def _invite(settings: PortalSettings, email: str, role: str, again: bool) -> int:
    from portal.app import build_auth
    from portal.auth import INVITATION_DAYS, InviteRefused

    try:
        link = build_auth(settings).invite(email, role, again=again)
    except InviteRefused as exc:
        print(f"Not invited: {exc}", file=sys.stderr)
        return 1
    print(f"A single-use link to set a password, valid {INVITATION_DAYS} days (send it privately):")
    print(link)
    return 0


def _revoke(settings: PortalSettings, email: str) -> int:
    from portal.app import build_auth

    auth = build_auth(settings)
    if not auth.revoke(email):
        print("No account has that address: nothing to revoke.", file=sys.stderr)
        return 1
    print("Access ended: the account is deactivated and every session of it signed out.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
