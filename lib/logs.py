"""Structured logs: the ids of what is being done (request, organization, agent, run) ride along with every log
line emitted while it is done, and LOG_FORMAT=json writes each line as one JSON object.

`bind(request_id=…, run_id=…)` sets ids for the current context (a request's thread, a run's execution); the
`ContextFilter` on the handler copies them onto every record, and `JsonFormatter` writes the record with them and
with whatever the call passed as `extra=`."""

import contextvars
import datetime as dt
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

IDS = ("request_id", "organization_id", "user_id", "agent_id", "run_id")
_ids: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("engram_log_ids", default={})  # noqa: B039

# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


@contextmanager
def bind(**ids: object) -> Iterator[None]:
    """Add ids (None values are skipped) to the log lines of the block; the previous ones come back after it."""
    token = _ids.set({**_ids.get(), **{k: str(v) for k, v in ids.items() if v is not None and v != ""}})
    try:
        yield
    finally:
        _ids.reset(token)


def bind_more(**ids: object) -> None:
    """Add ids for the rest of the current context (e.g. the organization, known once a request is authenticated)."""
    _ids.set({**_ids.get(), **{k: str(v) for k, v in ids.items() if v is not None and v != ""}})


def current() -> dict[str, str]:
    return dict(_ids.get())


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _ids.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the bound ids, the `extra` fields,
    and the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The classic line, with the bound ids appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(f"{key}={getattr(record, key)}" for key in IDS if getattr(record, key, None))
        return f"{text} [{ids}]" if ids else text
