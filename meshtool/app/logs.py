"""Structured logging for the controller: one line per record, as text or JSON.

JSON lines carry `time`, `level`, `logger`, `msg` and, for errors, `error`; text lines are
`time level logger: msg`. Nothing logs key material: the signers and writers log object keys,
reasons and validity windows only.
"""

from __future__ import annotations

import json
import logging
import sys


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = repr(record.exc_info[1])
        return json.dumps(entry, separators=(",", ":"))


def configure(log_format: str, level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The HTTP library logs every request at INFO: far too much for a controller at scale.
    for noisy in ("httpx", "httpx2", "httpcore", "hpack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
