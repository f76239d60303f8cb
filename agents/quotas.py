"""Per-organization quotas (off unless set): how many agents it may have (ENGRAM_QUOTA_AGENTS) and how many LLM
tokens its runs may use per UTC day (ENGRAM_QUOTA_TOKENS_PER_DAY). Over one, the write is refused with
QuotaExceeded: a ValidationError naming `quota` (the ADE shows it on the form) that the API answers with 429 and,
when waiting helps, Retry-After.

The token quota is checked when a run is created, against the day's recorded steps: the run that crosses it
finishes, the next one is refused."""

import datetime as dt
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import F, Sum
from django.utils import timezone

from accounts.models import Organization
from agents.models import Agent, Step
from lib import metrics


class QuotaExceeded(ValidationError):
    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__({"quota": message})
        self.retry_after = retry_after


def day_start(now: dt.datetime | None = None) -> dt.datetime:
    now = now or timezone.now()
    return now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def tokens_today(*, organization_id: uuid.UUID) -> int:
    total = Step.objects.filter(organization_id=organization_id, created_at__gte=day_start()).aggregate(
        tokens=Sum(F("prompt_tokens") + F("completion_tokens"))
    )["tokens"]
    return int(total or 0)


def agents_quota_check(*, organization_id: uuid.UUID) -> None:
    """Caller is in the transaction that creates the agent: the organization row is locked for its rest, so two
    creations at once cannot both take the last place (SQLite's write lock serializes them anyway)."""
    limit = settings.ENGRAM_QUOTA_AGENTS
    if not limit:
        return
    Organization.objects.select_for_update().filter(pk=organization_id).exists()
    if Agent.objects.filter(organization_id=organization_id).count() >= limit:
        metrics.RATE_LIMITED.labels("quota_agents").inc()
        raise QuotaExceeded(f"this organization has reached its quota of {limit} agents (ENGRAM_QUOTA_AGENTS)")


def tokens_quota_check(*, organization_id: uuid.UUID) -> None:
    limit = settings.ENGRAM_QUOTA_TOKENS_PER_DAY
    if not limit:
        return
    used = tokens_today(organization_id=organization_id)
    if used >= limit:
        now = timezone.now()
        retry_after = max(1, int((day_start(now) + dt.timedelta(days=1) - now).total_seconds()))
        metrics.RATE_LIMITED.labels("quota_tokens").inc()
        raise QuotaExceeded(
            f"this organization used {used} of its {limit} LLM tokens for today (ENGRAM_QUOTA_TOKENS_PER_DAY); "
            "the quota resets at midnight UTC",
            retry_after=retry_after,
        )
