"""Sending one alert: by email (SMTP) and to a Slack-compatible webhook. A failure is
raised as ChannelError with a reason that never holds the webhook's address, the SMTP
password or the server's own words."""

from __future__ import annotations

import smtplib
import socket
import ssl
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import requests

from pipelines.service_settings import ServiceSettings

TIMEOUT_SECONDS = 10
EMAIL, WEBHOOK = "email", "webhook"
SLACK_SECTION_LIMIT = 3000  # characters in one Slack section block
SLACK_HEADER_LIMIT = 150


class ChannelError(Exception):
    """An alert that did not go out; the message is safe to log."""


def configured(settings: ServiceSettings) -> list[str]:
    """The channels alerts go to under these settings (none: alerts are off)."""
    channels = [EMAIL] if settings.email_alerts else []
    return channels + ([WEBHOOK] if settings.ALERT_WEBHOOK_URL else [])


def send(channel: str, alert: dict[str, str], settings: ServiceSettings) -> None:
    """Send `alert` (subject, text, link) by one channel, or raise ChannelError."""
    try:
        if channel == EMAIL:
            _send_email(alert, settings)
        elif channel == WEBHOOK:
            _post_webhook(alert, settings.ALERT_WEBHOOK_URL)
        else:
            raise ChannelError(f"unknown channel {channel}")
    except ChannelError:
        raise
    except Exception as exc:  # any fault of the network or the server: kept, retried later
        raise ChannelError(reason(exc)) from None


def _send_email(alert: dict[str, str], settings: ServiceSettings) -> None:
    recipients = [a.strip() for a in settings.ALERT_EMAIL_TO.split(",") if a.strip()]
    # Lines up to SMTP's own limit: a subject is never folded, a line never re-encoded.
    message = EmailMessage(policy=policy.SMTP.clone(max_line_length=998))
    message["Subject"] = alert["subject"]
    message["From"] = settings.ALERT_EMAIL_FROM
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="groundswell.alerts")
    message.set_content(alert["text"])
    security = settings.SMTP_SECURITY.lower()
    tls = ssl.create_default_context()
    host, port = settings.SMTP_HOST, settings.SMTP_PORT
    if security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_SECONDS, context=tls)
    else:
        client = smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS)
    with client:
        if security == "starttls":
            client.starttls(context=tls)
        if settings.SMTP_USER:
            client.login(settings.SMTP_USER, settings.SMTP_PASSWORD)
        client.send_message(message, to_addrs=recipients)


def slack_payload(alert: dict[str, str]) -> dict:
    """Slack-compatible JSON: the whole message as `text` (what any receiver shows), with
    blocks for Slack itself: the subject, the message and a button to the run."""
    body = alert["text"].split("\n", 2)[-1].strip()  # the subject is the header block
    if len(body) > SLACK_SECTION_LIMIT:
        body = body[: SLACK_SECTION_LIMIT - 1] + "…"
    return {
        "text": _escape(alert["text"]),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": alert["subject"][:SLACK_HEADER_LIMIT]},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": _escape(body)}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open the run in Dagster"},
                        "url": alert["link"],
                    }
                ],
            },
        ],
    }


def _post_webhook(alert: dict[str, str], url: str) -> None:
    answer = requests.post(url, json=slack_payload(alert), timeout=TIMEOUT_SECONDS)
    if not 200 <= answer.status_code < 300:
        raise ChannelError(f"the webhook answered HTTP {answer.status_code}")


def _escape(text: str) -> str:
    # Slack reads <...> as links and mentions; & < > are escaped as it asks.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def reason(exc: BaseException) -> str:
    """Why a send failed, in words that repeat no address, password or server reply."""
    if isinstance(exc, requests.Timeout | socket.timeout | TimeoutError):
        return f"no answer within {TIMEOUT_SECONDS} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect (refused or unreachable)"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"the server refused SMTP_USER/SMTP_PASSWORD (SMTP {exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "the server refused every ALERT_EMAIL_TO address"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the server answered SMTP {exc.smtp_code}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return "the server does not offer STARTTLS or login (check SMTP_SECURITY)"
    if isinstance(exc, ssl.SSLError):
        return "TLS failed (check SMTP_SECURITY and SMTP_PORT)"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "the server closed the connection"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"network error ({type(exc).__name__}, errno {exc.errno})"
    return type(exc).__name__
