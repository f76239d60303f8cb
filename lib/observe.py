"""Every HTTP request, observed once: a request id (the client's `X-Request-Id` when it is sane, else a new one,
echoed in the response), the ids bound for the request's log lines, one `engram.request` log line, and the
request count and latency metrics by route pattern. The outermost middleware, so it times everything else."""

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from opentelemetry.trace import SpanKind

from lib import logs, metrics, tracing

logger = logging.getLogger("engram.request")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_of(request: HttpRequest) -> str:
    given = request.headers.get("X-Request-Id", "")
    return given if _SANE_ID.match(given) else uuid.uuid4().hex


def _route(request: HttpRequest) -> str:
    match = request.resolver_match
    return match.route if match is not None and match.route else "unmatched"


class RequestObservationMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        request_id = request_id_of(request)
        method = request.method or ""
        with (
            logs.bind(request_id=request_id),
            tracing.span(f"HTTP {method}", kind=SpanKind.SERVER, parent=request.headers, request_id=request_id) as span,
        ):
            response = self.get_response(request)
            elapsed = time.perf_counter() - started
            response["X-Request-Id"] = request_id
            self._record(request, response, elapsed)
            if span is not None:
                route = _route(request)
                span.update_name(f"{method} {route}")
                tracing.set_attributes(
                    span,
                    **{
                        "http.request.method": method,
                        "http.route": route,
                        "http.response.status_code": response.status_code,
                    },
                )
                if response.status_code >= 500:
                    tracing.mark_error(span, f"status {response.status_code}")
        return response

    def _record(self, request: HttpRequest, response: HttpResponseBase, elapsed: float) -> None:
        route = _route(request)
        method = request.method or ""
        metrics.HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
        metrics.HTTP_LATENCY.labels(route, method).observe(elapsed)
        user = getattr(request, "user", None)
        # Known without a query: API keys set it when they authenticate, the ADE's selectors when they scope.
        organization_id = getattr(user, "_engram_organization_id", None) if user is not None else None
        kwargs: dict[str, Any] = request.resolver_match.kwargs if request.resolver_match else {}
        fields = {
            "event": "request",
            "method": method,
            "path": request.path,
            "route": route,
            "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 2),
            "organization_id": str(organization_id) if organization_id else None,
            "user_id": getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None,
            "agent_id": str(kwargs["agent_id"]) if kwargs.get("agent_id") else None,
            "run_id": str(kwargs["run_id"]) if kwargs.get("run_id") else None,
        }
        logger.info(
            "%s %s %s %.1fms",
            method,
            request.path,
            response.status_code,
            elapsed * 1000,
            extra={k: v for k, v in fields.items() if v is not None},
        )
