"""OpenTelemetry spans: request → run → step → LLM call / tool call / memory search. Off unless the standard
OTEL_* settings ask for an exporter: OTEL_TRACES_EXPORTER (otlp or console), or OTEL_EXPORTER_OTLP_ENDPOINT /
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (OTLP over HTTP); OTEL_SDK_DISABLED=true turns it off again. Everything else
(OTEL_SERVICE_NAME, default "engram"; OTEL_RESOURCE_ATTRIBUTES; OTEL_TRACES_SAMPLER; OTEL_BSP_*; the OTLP headers
and timeouts) is read by the OpenTelemetry SDK itself.

Off, `span()` is a no-op of the API (no SDK is imported). A run executes in another thread or process than the
request that created it: the request's `traceparent` travels in the run's options (`propagation_headers`), so the
run's span continues the request's trace."""

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, Status, StatusCode, Tracer

_lock = threading.Lock()
_tracer: Tracer | None = None
_provider: Any = None  # the SDK's TracerProvider, when set up


def wanted() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    return bool(exporter or endpoint)


def setup(exporter: Any = None) -> bool:
    """Start exporting spans in this process (once), if the environment asks for it or an exporter is given
    (tests pass an in-memory one, exported synchronously). Returns whether spans are recorded."""
    global _tracer, _provider
    with _lock:
        if _tracer is not None:
            return True
        if exporter is None and not wanted():
            return False
        from opentelemetry.sdk.resources import OTELResourceDetector, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "engram"}).merge(
            OTELResourceDetector().detect()
        )
        provider = TracerProvider(resource=resource)
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            provider.add_span_processor(BatchSpanProcessor(_exporter_from_env()))
        _provider, _tracer = provider, provider.get_tracer("engram")
        return True


def _exporter_from_env() -> Any:
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def shutdown() -> None:
    """Flush and stop (tests, and a process that ends)."""
    global _tracer, _provider
    with _lock:
        if _provider is not None:
            _provider.shutdown()
        _tracer = _provider = None


def enabled() -> bool:
    return _tracer is not None


@contextmanager
def span(
    name: str,
    *,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    parent: Mapping[str, str] | None = None,
    **attributes: Any,
) -> Iterator[Span | None]:
    """A span around the block, child of the current one (or of the `parent` propagation headers); attributes
    that are None are left out. An exception in the block marks the span as an error and goes on."""
    tracer = _tracer
    if tracer is None:
        yield None
        return
    context = propagate.extract(parent) if parent else None  # a case-insensitive mapping (request headers) is fine
    clean = {k: v for k, v in attributes.items() if v is not None}
    with tracer.start_as_current_span(name, context=context, kind=kind, attributes=clean) as current:
        yield current


def set_attributes(current: Span | None, **attributes: Any) -> None:
    if current is not None:
        current.set_attributes({k: v for k, v in attributes.items() if v is not None})


def mark_error(current: Span | None, description: str) -> None:
    if current is not None:
        current.set_status(Status(StatusCode.ERROR, description[:500]))


def propagation_headers() -> dict[str, str]:
    """The current span's context as W3C `traceparent` headers, for work that continues elsewhere; {} when off."""
    if _tracer is None:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier
