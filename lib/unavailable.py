"""A request the database cannot take now is a 503 with Retry-After and the reason, never a 500.

`database_unavailable(exc)` says whether an exception is that (and why, in words for the client); the API's
exception handler (api.base) answers `{"detail": reason}` with it, and `DatabaseUnavailableMiddleware` answers
every other view (the ADE: a short page, or for htmx the reason as text, which ade.js shows). The SDKs retry a
503 after Retry-After. Today: SQLite's write lock, still taken past the `timeout` option (lib.sqlite)."""

from collections.abc import Callable
from html import escape

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBase

RETRY_AFTER_SECONDS = 2
_SQLITE_BUSY = "database is locked"  # SQLITE_BUSY, also what lib.sqlite raises after its timeout


def database_unavailable(exc: BaseException) -> str | None:
    """The reason to give the client when `exc` means the database cannot serve the request now, else None."""
    if isinstance(exc, OperationalError) and _SQLITE_BUSY in str(exc):
        return "The database is busy with other writes and could not take this one in time; try again shortly."
    return None


def unavailable_headers() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_SECONDS)}


class DatabaseUnavailableMiddleware:
    """A view outside the API (which answers through its exception handler) that raised `database_unavailable`:
    503 with Retry-After."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        reason = database_unavailable(exception)
        if reason is None:
            return None
        if request.headers.get("HX-Request"):  # htmx swaps no 5xx: ade.js shows the text
            response = HttpResponse(reason, status=503, content_type="text/plain; charset=utf-8")
        else:
            page = f"<!doctype html><title>Engram is busy</title><h1>Engram is busy</h1><p>{escape(reason)}</p>"
            response = HttpResponse(page, status=503)
        for name, value in unavailable_headers().items():
            response[name] = value
        return response
