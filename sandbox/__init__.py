"""The simulated outside world: a synthetic organisation served by simulated Action
Network and Mailchimp APIs on loopback. Imports nothing of the product."""

from __future__ import annotations

import hashlib
import random
import threading
import weakref
from datetime import date
from pathlib import Path
from typing import Any

from sandbox.action_network import ActionNetworkServer
from sandbox.advance import advance_with_asks
from sandbox.asks import AskRound
from sandbox.clock import Clock
from sandbox.generator import Organisation, generate, write_form_exports, write_truth
from sandbox.httpserver import Request, Response
from sandbox.mailchimp import MailchimpServer

ENV_NAMES = (
    "ACTION_NETWORK_BASE_URL",
    "ACTION_NETWORK_API_KEY",
    "MAILCHIMP_BASE_URL",
    "MAILCHIMP_API_KEY",
    "MAILCHIMP_LIST_ID",
)


def _keys(seed: int) -> tuple[str, str, str]:
    """Real-shaped credentials: a 32-hex Action Network key, a Mailchimp key with a
    data-centre suffix, a 10-hex audience id."""
    an = hashlib.md5(f"an-key:{seed}".encode()).hexdigest()
    mc = hashlib.md5(f"mc-key:{seed}".encode()).hexdigest() + "-us21"
    list_id = hashlib.md5(f"list:{seed}".encode()).hexdigest()[:10]
    return an, mc, list_id


# Every sandbox started in this process, so a test harness can audit them all.
LIVE: weakref.WeakSet = weakref.WeakSet()


class Sandbox:
    """Both simulators running on one clock; stop() or use as a context manager."""

    def __init__(
        self,
        org: Organisation,
        action_network: ActionNetworkServer,
        mailchimp: MailchimpServer,
        clock: Clock,
        forms_dir: str | Path | None = None,
        truth_dir: str | Path | None = None,
    ) -> None:
        self.org = org
        self.clock = clock
        self.an_server = action_network
        self.mc_server = mailchimp
        self.action_network = action_network.state
        self.mailchimp = mailchimp.state
        self.forms_dir = forms_dir
        self.truth_dir = truth_dir
        self._rng = random.Random(org.seed + 1)
        self._advance_lock = threading.Lock()
        self.last_asks = AskRound()  # the asks' truth of the last advance (sandbox.asks)
        self.stopped = False
        LIVE.add(self)
        for server in (action_network, mailchimp):
            server.controls["POST /_sandbox/advance"] = self._advance_route
            server.controls["GET /_sandbox/counts"] = self._counts_route
            server.controls["GET /_sandbox/asks"] = self._asks_route
        self.env = {
            "ACTION_NETWORK_BASE_URL": action_network.url + "/api/v2",
            "ACTION_NETWORK_API_KEY": action_network.api_key,
            "MAILCHIMP_BASE_URL": mailchimp.url + "/3.0",
            "MAILCHIMP_API_KEY": mailchimp.api_key,
            "MAILCHIMP_LIST_ID": mailchimp.state.list_id,
        }

    def advance(self, days: float = 1) -> dict[str, Any]:
        """Move the organisation forward: new people, changes, unsubscribes, Mailchimp
        campaigns and their activity, permanent deletes. The demo exports and truth.csv,
        when written, are rewritten to match."""
        with self._advance_lock:
            counts, self.last_asks = advance_with_asks(
                self.org, self.action_network, self.mailchimp, self.clock, days, self._rng
            )
            if self.forms_dir is not None:
                write_form_exports(self.org, self.forms_dir)
            if self.truth_dir is not None:
                write_truth(self.org, self.truth_dir)
        return counts

    def _advance_route(self, request: Request) -> Response:
        try:
            days = float(request.params.get("days", "1"))
        except ValueError:
            return Response(400, {"error": "days must be a number"})
        if not 0 < days <= 366:
            return Response(400, {"error": "days must be between 0 and 366"})
        return Response(200, self.advance(days))

    def counts(self) -> dict[str, int]:
        """How many records each platform holds now: the truth a benchmark compares to."""
        with self.action_network.lock, self.mailchimp.lock:
            counts = {
                "action_network_people": len(self.action_network.people),
                "mailchimp_members": len(self.mailchimp.members),
                "mailchimp_campaigns": len(self.mailchimp.campaigns),
                # Every event email-activity serves, a deleted member's included.
                "mailchimp_email_activity": sum(c.events for c in self.mailchimp.campaigns),
                "mailchimp_merge_fields": len(self.mailchimp.merge_fields),
                "mailchimp_tags": len(self.mailchimp.tag_ids),
            }
            for name, actions in self.org.organising.actions.items():
                counts[f"action_network_{name}"] = len(actions)
        return counts

    def violations(self, namespace: str) -> list[str]:
        """Both platforms' audit violations (see sandbox.audit.violations)."""
        return self.action_network.violations(namespace) + self.mailchimp.violations(namespace)

    def _counts_route(self, request: Request) -> Response:
        return Response(200, self.counts())

    def asks(self, detail: bool = False) -> dict[str, Any]:
        """The last advance's asks: per pushed list, asked, said_yes, acted and the share;
        `detail` adds the (synthetic) email addresses of each."""
        with self._advance_lock:
            return self.last_asks.report(detail)

    def _asks_route(self, request: Request) -> Response:
        detail = request.params.get("detail", "").strip().lower()
        if detail not in ("", "0", "1", "false", "true", "no", "yes"):
            return Response(400, {"error": "detail must be 1 or 0 (true/false, yes/no)"})
        return Response(200, self.asks(detail in ("1", "true", "yes")))

    def set_faults(self, settings: dict[str, Any], platform: str = "both") -> None:
        """Inject faults (see sandbox.faults.Faults) on one platform or both."""
        for name, server in (("action_network", self.an_server), ("mailchimp", self.mc_server)):
            if platform in (name, "both"):
                server.faults.configure(settings)

    def env_lines(self) -> list[str]:
        return [f"{name}={self.env[name]}" for name in ENV_NAMES]

    def stop(self) -> None:
        self.an_server.stop()
        self.mc_server.stop()
        self.stopped = True

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox(
    people: int = 5000,
    seed: int = 42,
    an_rate: float = 4.0,
    mc_connections: int = 10,
    host: str = "127.0.0.1",
    an_port: int = 0,
    mc_port: int = 0,
    forms_dir: str | Path | None = None,
    truth_dir: str | Path | None = None,
    today: date | None = None,
    latency: float = 0.0,
    an_latency: float | None = None,
    mc_latency: float | None = None,
    faults: dict[str, Any] | None = None,
) -> Sandbox:
    """Generate the organisation and serve both platforms on free loopback ports.
    `latency` (seconds, median) applies to both unless `an_latency` / `mc_latency` say
    otherwise; the library default is none, the command line's is the real platforms'."""
    org = generate(people, seed, today)
    an_key, mc_key, list_id = _keys(seed)
    clock = Clock(org.now)
    an = ActionNetworkServer(
        org,
        an_key,
        rate=an_rate,
        latency=latency if an_latency is None else an_latency,
        seed=seed,
        clock=clock,
    ).start(host, an_port)
    mc = MailchimpServer(
        org,
        mc_key,
        list_id,
        max_connections=mc_connections,
        latency=latency if mc_latency is None else mc_latency,
        clock=clock,
    ).start(host, mc_port)
    if forms_dir is not None:
        write_form_exports(org, forms_dir)
    if truth_dir is not None:
        write_truth(org, truth_dir)
    sandbox = Sandbox(org, an, mc, clock, forms_dir, truth_dir)
    if faults:
        sandbox.set_faults(faults)
    return sandbox


__all__ = ["ENV_NAMES", "Sandbox", "generate", "start_sandbox", "write_form_exports", "write_truth"]
