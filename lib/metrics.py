"""Prometheus metrics: every series Engram exports, defined once here and updated where the thing happens.

Multiprocess-safe: when PROMETHEUS_MULTIPROC_DIR is set (in the environment of every daphne and Celery process,
before they start; the directory emptied at deployment), prometheus_client keeps each process's values in files
there and `exposition()` sums them, so one scrape of any server process sees the whole deployment. Without it
(the embedded profile: one process) the values live in this process. Gauges that describe the present (queue
depths, backlog, runs waiting) are not kept here: the metrics view reads them at scrape time (`scrape_gauges`).

Labels stay bounded: routes are URL patterns, never paths; models are the handles in use; tool names only for
built-ins (a member's tool is "custom")."""

import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_LONG = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

HTTP_REQUESTS = Counter(
    "engram_http_requests",
    "HTTP requests answered, by route pattern, method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "engram_http_request_duration_seconds",
    "Time to answer an HTTP request (to the response's headers; a stream's body is not included).",
    ["route", "method"],
    buckets=_LATENCY,
)
RUNS = Counter("engram_runs", "Runs ended, by status and stop reason.", ["status", "stop_reason"])
RUN_DURATION = Histogram(
    "engram_run_duration_seconds", "A run's time from its claim to its end, by status.", ["status"], buckets=_LONG
)
RUN_QUEUE_WAIT = Histogram(
    "engram_run_queue_wait_seconds", "A run's time from its creation to its claim by an executor.", buckets=_LONG
)
STEPS = Counter("engram_steps", "Agent steps persisted, by model and outcome (ok or error).", ["model", "outcome"])
LLM_CALLS = Counter("engram_llm_calls", "LLM requests, by model and outcome (ok or error).", ["model", "outcome"])
LLM_LATENCY = Histogram(
    "engram_llm_call_duration_seconds", "Time of one LLM request, retries included.", ["model"], buckets=_LATENCY
)
LLM_TOKENS = Counter(
    "engram_llm_tokens", "Tokens of LLM requests, by model and kind (prompt or completion).", ["model", "kind"]
)
LLM_COST = Counter("engram_llm_cost_usd", "Cost of LLM requests in US dollars (litellm's price list).", ["model"])
LLM_ERRORS = Counter(
    "engram_llm_errors", "LLM requests that failed for good, by model and reason.", ["model", "reason"]
)
TOOL_CALLS = Counter(
    "engram_tool_calls", "Tool calls, by tool (built-ins by name, others 'custom') and outcome.", ["tool", "outcome"]
)
TOOL_LATENCY = Histogram("engram_tool_call_duration_seconds", "Time of one tool call.", ["tool"], buckets=_LATENCY)
EMBEDDING_TEXTS = Counter("engram_embedding_texts", "Texts embedded, by embedding model.", ["model"])
EMBEDDING_CALLS = Counter("engram_embedding_calls", "Embedding batches computed, by embedding model.", ["model"])
EMBEDDING_LATENCY = Histogram(
    "engram_embedding_duration_seconds", "Time of one embedding batch.", ["model"], buckets=_LATENCY
)
# livesum: in multiprocess mode the open sockets of processes still alive, summed.
WEBSOCKETS_OPEN = Gauge("engram_websockets_open", "Open ADE websockets.", multiprocess_mode="livesum")
RATE_LIMITED = Counter("engram_rate_limited", "Requests refused by a rate limit or quota, by scope.", ["scope"])
EVENTS_UNSENT = Counter(
    "engram_events_unsent",
    "Live events the channel layer (Redis) did not take, by type; clients re-read what they announced.",
    ["type"],
)

OUTCOMES = ("ok", "error")

# Present-state gauges, read when scraped: name → (help, reader returning {label value: number}, label name).
ScrapeReader = Callable[[], dict[str, float]]
_scrape_gauges: dict[str, tuple[str, str, ScrapeReader]] = {}


def scrape_gauge(name: str, documentation: str, label: str, reader: ScrapeReader) -> None:
    """Register a gauge computed at each scrape (a query, a queue length) by the process that answers it."""
    _scrape_gauges[name] = (documentation, label, reader)


class _ScrapeCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        for name, (documentation, label, reader) in _scrape_gauges.items():
            family = GaugeMetricFamily(name, documentation, labels=[label])
            for value, number in reader().items():
                family.add_metric([value], number)
            yield family


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def exposition() -> bytes:
    """The text format for one scrape: every process's counters (or this process's) and the scrape gauges."""
    if multiprocess():
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))
    registry.register(_ScrapeCollector())
    return generate_latest(registry)


class _Forward(Collector):
    """This process's default registry, inside the registry of one scrape."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        return self.source.collect()


def process_dead(pid: int) -> None:
    """A worker process ended: its live gauges stop counting (multiprocess mode)."""
    if multiprocess():
        from prometheus_client import multiprocess as mp

        mp.mark_process_dead(pid)  # type: ignore[no-untyped-call]
