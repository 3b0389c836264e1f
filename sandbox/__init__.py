"""The simulated outside world: a synthetic organisation served by simulated Action
Network and Mailchimp APIs on loopback. Imports nothing of the product."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

from sandbox.action_network import ActionNetworkServer
from sandbox.generator import Organisation, generate, write_form_exports, write_truth
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


class Sandbox:
    """Both simulators running; stop() or use as a context manager."""

    def __init__(
        self, org: Organisation, action_network: ActionNetworkServer, mailchimp: MailchimpServer
    ) -> None:
        self.org = org
        self.an_server = action_network
        self.mc_server = mailchimp
        self.action_network = action_network.state
        self.mailchimp = mailchimp.state
        self.env = {
            "ACTION_NETWORK_BASE_URL": action_network.url + "/api/v2",
            "ACTION_NETWORK_API_KEY": action_network.api_key,
            "MAILCHIMP_BASE_URL": mailchimp.url + "/3.0",
            "MAILCHIMP_API_KEY": mailchimp.api_key,
            "MAILCHIMP_LIST_ID": mailchimp.state.list_id,
        }

    def env_lines(self) -> list[str]:
        return [f"{name}={self.env[name]}" for name in ENV_NAMES]

    def stop(self) -> None:
        self.an_server.stop()
        self.mc_server.stop()

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
) -> Sandbox:
    """Generate the organisation and serve both platforms on free loopback ports.
    `latency` (seconds, median) applies to both unless `an_latency` / `mc_latency` say
    otherwise; the library default is none, the command line's is the real platforms'."""
    org = generate(people, seed, today)
    an_key, mc_key, list_id = _keys(seed)
    an = ActionNetworkServer(
        org, an_key, rate=an_rate, latency=latency if an_latency is None else an_latency, seed=seed
    ).start(host, an_port)
    mc = MailchimpServer(
        org,
        mc_key,
        list_id,
        max_connections=mc_connections,
        latency=latency if mc_latency is None else mc_latency,
    ).start(host, mc_port)
    if forms_dir is not None:
        write_form_exports(org, forms_dir)
    if truth_dir is not None:
        write_truth(org, truth_dir)
    return Sandbox(org, an, mc)


__all__ = ["ENV_NAMES", "Sandbox", "generate", "start_sandbox", "write_form_exports", "write_truth"]
