"""API rate limits (DRF throttles, run after authentication): per API key (a signed-in session counts as its
user) by ENGRAM_RATE_LIMIT_KEY, and per organization, all its keys and members together, by ENGRAM_RATE_LIMIT_ORG.

Fixed windows counted in the shared cache (Redis in production, so every server process counts together; process
memory in the embedded profile): one atomic increment per request and limit. A request over a limit is a 429
naming the limit, with Retry-After = the seconds left in the window (the SDKs wait that long before retrying).
At a window's edge a client may send up to twice the limit within one period; the limit holds over every window."""

import logging
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts.models import APIKey, Membership
from accounts.selectors import organization_id_for
from lib import metrics

logger = logging.getLogger(__name__)
_PERIOD_NAMES = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}


def window_hit(*, scope: str, ident: str, limit: int, period: int) -> float | None:
    """Count one request of `ident` in the current window; the seconds until the window ends when it is over
    `limit`, else None."""
    now = time.time()
    window = int(now // period)
    key = f"ratelimit:{scope}:{ident}:{period}:{window}"
    cache.add(key, 0, timeout=period + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=period + 1)
        count = 1
    if count > limit:
        return (window + 1) * period - now
    return None


class _Throttle(BaseThrottle):
    scope = ""
    what = ""
    setting = ""

    def rate(self) -> tuple[int, int] | None:
        rate: tuple[int, int] | None = getattr(settings, self.setting)
        return rate

    def ident(self, request: Request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        rate = self.rate()
        if rate is None or request.user is None or not request.user.is_authenticated:
            return True
        ident = self.ident(request)
        if ident is None:
            return True
        limit, period = rate
        try:
            wait = window_hit(scope=self.scope, ident=ident, limit=limit, period=period)
        except Exception:  # the cache (Redis) is down: serve rather than fail every request
            logger.warning("rate limit %s not checked: the cache failed", self.setting, exc_info=True)
            return True
        if wait is None:
            return True
        metrics.RATE_LIMITED.labels(self.scope).inc()
        unit = _PERIOD_NAMES.get(period, f"{period} seconds")
        raise exceptions.Throttled(
            wait=wait, detail=f"Rate limit of {limit} requests per {unit} for {self.what} ({self.setting}) reached."
        )


class APIKeyThrottle(_Throttle):
    scope = "key"
    what = "this API key"
    setting = "ENGRAM_RATE_LIMIT_KEY"

    def ident(self, request: Request) -> str | None:
        if isinstance(request.auth, APIKey):
            return f"key:{request.auth.pk}"
        return f"user:{request.user.pk}"


class OrganizationThrottle(_Throttle):
    scope = "org"
    what = "this organization"
    setting = "ENGRAM_RATE_LIMIT_ORG"

    def ident(self, request: Request) -> str | None:
        if not isinstance(request.user, User):
            return None
        try:
            return f"org:{organization_id_for(request.user)}"
        except Membership.DoesNotExist:
            return None
