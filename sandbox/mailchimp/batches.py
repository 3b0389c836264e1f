"""Mailchimp batch operations: validating `POST /batches`, the batch object, and the
gzipped tar of JSON results its `response_body_url` leads to."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
RESULTS_PER_FILE = 500  # the real tarball splits results over several files too


@dataclass
class Operation:
    method: str
    path: str
    params: dict[str, str]
    body: str | None
    operation_id: str


@dataclass
class Batch:
    id: str
    operations: list[Operation]
    submitted_at: datetime
    status: str = "pending"
    finished_operations: int = 0
    errored_operations: int = 0
    completed_at: datetime | None = None
    response_body_url: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)


def parse_operations(body: Any) -> list[Operation] | str:
    """The operations of a `POST /batches` body, or why the body is invalid."""
    if not isinstance(body, dict) or not isinstance(body.get("operations"), list):
        return "The resource submitted could not be validated: operations is required."
    operations = []
    for n, op in enumerate(body["operations"]):
        if not isinstance(op, dict):
            return f"operations[{n}] must be an object."
        method = str(op.get("method") or "").upper()
        path = op.get("path")
        if method not in METHODS:
            return f"operations[{n}].method must be one of {', '.join(METHODS)}."
        if not isinstance(path, str) or not path.startswith("/"):
            return f"operations[{n}].path must be a path such as /lists/{{list_id}}/members."
        params = op.get("params") or {}
        if not isinstance(params, dict):
            return f"operations[{n}].params must be an object."
        raw = op.get("body")
        if raw is not None and not isinstance(raw, str):
            return f"operations[{n}].body must be a JSON string."
        operations.append(
            Operation(
                method,
                path,
                {str(k): str(v) for k, v in params.items()},
                raw,
                str(op.get("operation_id") or ""),
            )
        )
    return operations


def batch_json(batch: Batch, api: str, iso: Any) -> dict[str, Any]:
    href = f"{api}/batches/{batch.id}"
    return {
        "id": batch.id,
        "status": batch.status,
        "total_operations": len(batch.operations),
        "finished_operations": batch.finished_operations,
        "errored_operations": batch.errored_operations,
        "submitted_at": iso(batch.submitted_at),
        "completed_at": iso(batch.completed_at),
        "response_body_url": batch.response_body_url,
        "_links": [
            {"rel": "parent", "href": f"{api}/batches", "method": "GET"},
            {"rel": "self", "href": href, "method": "GET"},
            {"rel": "delete", "href": href, "method": "DELETE"},
        ],
    }


def result(status: int, operation_id: str, body: bytes) -> dict[str, Any]:
    """One operation's entry in the results: the response body as a string, "" if none."""
    return {
        "status_code": status,
        "operation_id": operation_id,
        "response": body.decode("utf-8") if body else "",
    }


def tarball(batch_id: str, results: list[dict[str, Any]]) -> bytes:
    """The results as the real link serves them: gzipped tar of JSON arrays."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        chunks = [
            results[i : i + RESULTS_PER_FILE] for i in range(0, len(results), RESULTS_PER_FILE)
        ] or [[]]
        for n, chunk in enumerate(chunks):
            data = json.dumps(chunk).encode("utf-8")
            info = tarfile.TarInfo(f"{batch_id}/{batch_id}-{n}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
