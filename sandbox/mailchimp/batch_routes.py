"""The simulated Mailchimp's batch operations: accepted, run in the background through
the server's own routes (audit and refusals included), listed, read, and their results
served as a tarball behind a link that needs no API key."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from sandbox.audit import note
from sandbox.httpserver import Request, Response
from sandbox.mailchimp.batches import Batch, batch_json, parse_operations, result, tarball
from sandbox.mailchimp.guards import Guards, invalid, not_found
from sandbox.mailchimp.members import Match
from sandbox.mailchimp.shapes import PREFIX, iso, problem, shaped
from sandbox.mailchimp.state import MailchimpState


def _problem_bytes(status: int, title: str, detail: str) -> bytes:
    return problem(status, title, detail).encoded()


class BatchRoutes:
    """Batch routes over one audience; `match` finds the route each operation runs."""

    def __init__(self, state: MailchimpState, guards: Guards, match: Match) -> None:
        self.state = state
        self.guards = guards
        self.match = match

    def post_batch(self, request: Request) -> Response:
        """Accept the operations and run them in the background, as the real API does."""
        operations = parse_operations(request.body)
        if isinstance(operations, str):
            raise invalid(operations)
        batch = Batch(uuid.uuid4().hex[:10], operations, self.state.clock.now())
        with self.state.lock:
            self.state.batches[batch.id] = batch
            body = batch_json(batch, request.base + PREFIX, iso)
        note(request).detail["batch_id"] = batch.id
        threading.Thread(target=self._run_batch, args=(batch, request.base), daemon=True).start()
        return Response(200, body)

    def _run_batch(self, batch: Batch, base: str) -> None:
        """Each operation through this server's own routes, then the results tarball,
        then `finished`."""
        batch.status = "started"
        for op in batch.operations:
            status, data = self._run_operation(op, batch.id, base)
            batch.results.append(result(status, op.operation_id, data))
            batch.finished_operations += 1
            if status >= 400:
                batch.errored_operations += 1
        with self.state.lock:
            self.state.batch_results[batch.id] = tarball(batch.id, batch.results)
            batch.completed_at = self.state.clock.now()
            batch.response_body_url = f"{base}/_sandbox/batch-results/{batch.id}.tar.gz"
            batch.status = "finished"

    def _run_operation(self, op: Any, batch_id: str, base: str) -> tuple[int, bytes]:
        path = op.path[len(PREFIX) :] if op.path.startswith(PREFIX + "/") else op.path
        try:
            body = json.loads(op.body) if op.body else None
        except ValueError:
            return 400, _problem_bytes(400, "Invalid Resource", "The body is not JSON.")
        route, args = self.match(op.method, path.split("?", 1)[0])
        if route is None or path.startswith("/batches"):
            return 404, _problem_bytes(
                404, "Resource Not Found", "The requested resource could not be found."
            )
        request = Request(op.method, path, op.params, {}, body, base, args, {"batch_id": batch_id})
        try:
            response = route.handler(request)
        except Exception as exc:  # one bad operation must not sink the batch
            return 500, _problem_bytes(500, "Internal Server Error", str(exc))
        return response.status, response.encoded()

    def list_batches(self, request: Request) -> Response:
        count, offset = self.guards.page(request.params)
        api = request.base + PREFIX
        with self.state.lock:
            batches = list(self.state.batches.values())
            page = [batch_json(b, api, iso) for b in batches[offset : offset + count]]
        body = {
            "batches": page,
            "total_items": len(batches),
            "_links": [{"rel": "self", "href": f"{api}/batches", "method": "GET"}],
        }
        return Response(200, shaped(body, request.params))

    def get_batch(self, request: Request) -> Response:
        with self.state.lock:
            batch = self.state.batches.get(request.args["batch_id"])
            if batch is None:
                raise not_found()
            body = batch_json(batch, request.base + PREFIX, iso)
        return Response(200, shaped(body, request.params))

    def batch_results(self, request: Request) -> Response:
        """The tarball behind `response_body_url`; no API key, like a signed S3 link."""
        name = request.args.get("name", "")
        data = self.state.batch_results.get(name.removesuffix(".tar.gz"))
        if data is None or not name.endswith(".tar.gz"):
            return Response(404, "NoSuchKey", "text/plain")
        return Response(200, data, "application/x-gzip")
