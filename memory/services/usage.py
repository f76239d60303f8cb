"""Counting embedding work for the usage report (memory.models.EmbeddingUsage)."""

import datetime as dt
import uuid

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from memory.models import EmbeddingUsage


def embedding_usage_add(*, organization_id: uuid.UUID, agent_id: uuid.UUID | None, model: str, texts: int) -> None:
    """Add one batch of `texts` to today's (UTC) count: a conditional UPDATE, or the day's first row."""
    day = timezone.now().astimezone(dt.UTC).date()
    key = {"organization_id": organization_id, "agent_id": agent_id, "day": day, "model": model}
    if EmbeddingUsage.objects.filter(**key).update(calls=F("calls") + 1, texts=F("texts") + texts):
        return
    try:
        with transaction.atomic():
            EmbeddingUsage.objects.create(**key, calls=1, texts=texts)
    except IntegrityError:  # another process wrote the day's first row meanwhile
        EmbeddingUsage.objects.filter(**key).update(calls=F("calls") + 1, texts=F("texts") + texts)
