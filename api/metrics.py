"""`GET /metrics`: the Prometheus text format (lib.metrics), for a bearer ENGRAM_METRICS_TOKEN or a client address
in ENGRAM_METRICS_ALLOWED_IPS; anyone else gets a 403. Not under /v1: no API key, no rate limit, no schema.

The present-state gauges are read here, when scraped: runs waiting (queued, dispatched to an executor, running),
the Celery queues' lengths (with Redis), and the rows waiting for a vector (counted up to BACKLOG_CAP)."""

import ipaddress
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_GET

from agents.models import Message, Run, RunStatus
from lib import metrics
from memory.models import Passage

logger = logging.getLogger(__name__)

CELERY_QUEUES = ("llm", "embeddings", "default")
BACKLOG_CAP = 100_000  # a count past this reads as the cap: the gauge stays cheap on huge tables


def _runs_waiting() -> dict[str, float]:
    counts = Run.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).aggregate(
        queued=Count("id", filter=Q(status=RunStatus.QUEUED, dispatched_at=None)),
        dispatched=Count("id", filter=Q(status=RunStatus.QUEUED, dispatched_at__isnull=False)),
        running=Count("id", filter=Q(status=RunStatus.RUNNING)),
    )
    return {state: float(n) for state, n in counts.items()}


def _celery_queues() -> dict[str, float]:
    if not settings.REDIS_URL:
        return {}
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        with client:
            return {queue: float(client.llen(queue)) for queue in CELERY_QUEUES}
    except redis.RedisError as exc:
        logger.warning("metrics: cannot read the Celery queues: %s", exc)
        return {}


def _embedding_backlog() -> dict[str, float]:
    backlog = {"passages": float(Passage.objects.filter(embedding__isnull=True).values("pk")[:BACKLOG_CAP].count())}
    if settings.ENGRAM_EMBED_MESSAGES:
        # A run's messages are embedded when it ends, so a running run's count here for a while.
        rows = Message.objects.filter(embedding__isnull=True).exclude(text="").values("pk")[:BACKLOG_CAP]
        backlog["messages"] = float(rows.count())
    return backlog


metrics.scrape_gauge("engram_runs_waiting", "Runs not yet ended, by state.", "state", _runs_waiting)
metrics.scrape_gauge("engram_celery_queue_length", "Messages waiting in each Celery queue.", "queue", _celery_queues)
metrics.scrape_gauge(
    "engram_embedding_backlog", f"Rows waiting for a vector (up to {BACKLOG_CAP}).", "table", _embedding_backlog
)


def metrics_allowed(request: HttpRequest) -> bool:
    token = settings.ENGRAM_METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and constant_time_compare(given.strip(), token):
            return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.ENGRAM_METRICS_ALLOWED_IPS)


@login_not_required
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        detail = "metrics are served to ENGRAM_METRICS_TOKEN (as a bearer token) or ENGRAM_METRICS_ALLOWED_IPS only"
        return JsonResponse({"detail": detail}, status=403)
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)
