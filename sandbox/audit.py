"""What writers did to a simulated platform: every write request, what it changed, and
which of those a well-behaved sync must never do. Also refusal injection: members whose
writes the platform turns down, as a real platform does for people in a compliance state."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sandbox.httpserver import Handler, Request, Response


@dataclass
class Write:
    """One write request and what it changed (left empty where nothing did)."""

    platform: str
    method: str
    route: str  # "METHOD /template", as the stats count routes
    path: str
    member: str = ""  # subscriber hash or person uuid, when one is touched
    email: str = ""
    status_code: int = 0
    batch_id: str = ""  # set when the write ran inside a Mailchimp batch
    tags_added: list[str] = field(default_factory=list)
    tags_removed: list[str] = field(default_factory=list)
    status_sent: str | None = None  # a consent status in the body, changed or not
    status_before: str | None = None
    status_after: str | None = None
    created: bool = False
    fields_set: dict[str, str] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. is_syncing

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Refusal:
    status: int
    title: str
    detail: str


def violations(writes: Iterable[Write], namespace: str) -> list[str]:
    """What a sync must never do: resubscribe someone, touch tags outside its namespace,
    or create contacts. One line per offence, in the order they happened."""
    prefix = namespace.lower()
    found: list[str] = []
    for w in writes:
        if w.status_code >= 400:
            continue  # refused: nothing changed
        who = w.member or w.email or w.path
        if w.status_after == "subscribed" and w.status_before not in (None, "subscribed"):
            found.append(
                f"{w.platform}: {who} resubscribed ({w.status_before} -> subscribed) by {w.route}"
            )
        for verb, names in (("added", w.tags_added), ("removed", w.tags_removed)):
            for name in names:
                if not name.lower().startswith(prefix):
                    found.append(f"{w.platform}: tag {name!r} {verb} on {who} by {w.route}")
        if w.created:
            found.append(f"{w.platform}: contact {who} created by {w.route}")
    return found


def _effects(w: Write) -> list[tuple[tuple[str, ...], str]]:
    """What one write set: ((kind, member, name), value) pairs."""
    member = (w.member or w.email).lower()
    effects = [(("tag", member, t.lower()), "on") for t in w.tags_added]
    effects += [(("tag", member, t.lower()), "off") for t in w.tags_removed]
    effects += [(("field", member, f), v) for f, v in w.fields_set.items()]
    if w.detail.get("tag"):
        effects.append((("tag definition", "", str(w.detail["tag"]).lower()), "made"))
    if w.created or (w.method == "PUT" and w.route.endswith("{subscriber_hash}")):
        effects.append((("contact", member, ""), "created" if w.created else "exists"))
    return effects


def duplicate_writes(writes: Iterable[Write], since: int = 0) -> list[str]:
    """Writes that repeated what an earlier write in the log had already done, with
    nothing changed in between: a tag added (or removed) again, a field set to the same
    value again, a tag or contact created again. One line per repeated effect, made by
    the writes from position `since` in the log on."""
    last: dict[tuple[str, ...], str] = {}
    found: list[str] = []
    for n, w in enumerate(writes):
        if not 200 <= w.status_code < 300:
            continue  # refused or still running: nothing was done
        for key, value in _effects(w):
            kind, member, name = key
            before = last.get(key)
            repeated = before == value or (kind == "contact" and before is not None)
            if repeated and n >= since:
                what = f"{kind} {name!r}" if name else kind
                found.append(f"{w.platform}: {what} set again ({value}) on {member} by {w.route}")
            last[key] = "created" if kind == "contact" and before else value
    return found


class Audit:
    """The write log and the refusal list of one platform; thread-safe."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.lock = threading.Lock()
        self.writes: list[Write] = []
        self.refused: dict[str, Refusal] = {}  # lowercased id, hash, uuid or email

    def start(self, request: Request, route: str) -> Write:
        write = Write(self.platform, request.method, route, request.path)
        with self.lock:
            self.writes.append(write)
        return write

    def by_route(self) -> dict[str, int]:
        with self.lock:
            counts: dict[str, int] = {}
            for w in self.writes:
                counts[w.route] = counts.get(w.route, 0) + 1
            return counts

    def violations(self, namespace: str) -> list[str]:
        with self.lock:
            return violations(list(self.writes), namespace)

    def duplicates(self, since: int = 0) -> list[str]:
        with self.lock:
            return duplicate_writes(list(self.writes), since)

    def summary(self, namespace: str = "", detail: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "writes": len(self.writes),
            "by_route": self.by_route(),
            "violations": self.violations(namespace),
            "duplicates": self.duplicates(),
        }
        if detail:
            with self.lock:
                body["log"] = [w.as_dict() for w in self.writes]
        return body

    def clear(self) -> None:
        with self.lock:
            self.writes.clear()

    def refuse(self, members: Iterable[str], refusal: Refusal) -> None:
        with self.lock:
            for key in members:
                self.refused[str(key).strip().lower()] = refusal

    def unrefuse(self) -> None:
        with self.lock:
            self.refused.clear()

    def refusal_for(self, keys: Iterable[str]) -> Refusal | None:
        with self.lock:
            for key in keys:
                if key and key.strip().lower() in self.refused:
                    return self.refused[key.strip().lower()]
        return None


def audited(
    audit: Audit,
    route: str,
    handler: Handler,
    keys: Callable[[Request], list[str]],
    refuse: Callable[[Refusal], Response],
) -> Handler:
    """Wrap a write handler: log the request, answer a refusal for a refused member
    without touching anything, and let the handler note what it changed on the Write
    it finds in `request.extra["write"]`."""

    def wrapped(request: Request) -> Response:
        write = audit.start(request, route)
        write.batch_id = str(request.extra.get("batch_id", ""))
        request.extra["write"] = write
        found = keys(request)
        write.member = next((k for k in found if k and "@" not in k), "")
        refusal = audit.refusal_for(found)
        # A refused write changes nothing: the handler never runs.
        response = refuse(refusal) if refusal is not None else handler(request)
        write.status_code = response.status
        return response

    return wrapped


def note(request: Request) -> Write:
    """The Write being recorded for this request (a throwaway when not audited)."""
    write = request.extra.get("write")
    return write if isinstance(write, Write) else Write("", request.method, "", request.path)


def parse_refusal(body: Any) -> tuple[list[str], Refusal] | str:
    """The body of `POST /_sandbox/refuse`, or why it is unusable."""
    if not isinstance(body, dict) or not isinstance(body.get("members"), list):
        return "body must be {'members': [...], 'status', 'title', 'detail'}"
    try:
        status = int(body.get("status", 400))
    except (TypeError, ValueError):
        return "status must be an integer"
    if not 400 <= status <= 599:
        return "status must be an HTTP error status"
    refusal = Refusal(
        status,
        str(body.get("title") or "Member In Compliance State"),
        str(body.get("detail") or "The platform refused this write."),
    )
    return [str(m) for m in body["members"]], refusal


def add_controls(
    controls: dict[str, Handler], audit: Audit, aliases: Callable[[str], list[str]]
) -> None:
    """`GET /_sandbox/audit[?namespace=..&detail=true]`, `POST /_sandbox/refuse` and
    `DELETE /_sandbox/refuse` on one server. `aliases` widens each refused key to every
    name the member goes by (id, email, ...), so a refusal by email also catches a write
    addressed by id."""

    def get_audit(request: Request) -> Response:
        detail = request.params.get("detail", "").lower() in ("1", "true", "yes")
        return Response(200, audit.summary(request.params.get("namespace", ""), detail))

    def post_refuse(request: Request) -> Response:
        parsed = parse_refusal(request.body)
        if isinstance(parsed, str):
            return Response(400, {"error": parsed})
        members, refusal = parsed
        keys = [alias for m in members for alias in [m, *aliases(m)]]
        audit.refuse(keys, refusal)
        return Response(200, {"refused": sorted(audit.refused)})

    def delete_refuse(request: Request) -> Response:
        audit.unrefuse()
        return Response(200, {"refused": []})

    def delete_audit(request: Request) -> Response:
        audit.clear()
        return Response(200, {"writes": 0})

    controls["GET /_sandbox/audit"] = get_audit
    controls["DELETE /_sandbox/audit"] = delete_audit
    controls["POST /_sandbox/refuse"] = post_refuse
    controls["DELETE /_sandbox/refuse"] = delete_refuse
