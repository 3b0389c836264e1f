"""uvicorn's logging for the portal: the access log shows each request's path only (no
query string, where a search could carry a name) and never an invitation's token."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

_INVITE = re.compile(r"^/invite/[^/?#]*")


def safe_path(path: str) -> str:
    """The path as it may be logged: query dropped, invitation tokens redacted."""
    return _INVITE.sub("/invite/[redacted]", path.split("?", 1)[0])


class RedactPaths(logging.Filter):
    """Rewrites the path of uvicorn's access records before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], safe_path(args[2]), args[3], args[4])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with the access records redacted."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_paths": {"()": "portal.access_log.RedactPaths"}}
    config["loggers"]["uvicorn.access"]["filters"] = ["redact_paths"]
    return config
