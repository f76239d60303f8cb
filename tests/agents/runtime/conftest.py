"""A private Redis as the Celery broker of the worker subprocesses these tests start (test_execution.py,
test_recovery.py)."""

import pytest

from config.celery import app as celery_app
from tests.backing import ensure_redis


@pytest.fixture
def celery_redis(settings, fake_llm):
    url = ensure_redis()
    old = celery_app.conf.broker_url
    celery_app.conf.broker_url = url
    celery_app._after_fork()  # drop connection pools made for the old broker
    settings.ENGRAM_RUN_EXECUTOR = "celery"
    settings.REDIS_URL = url  # waits here wake up through the run-end listener on this Redis
    import redis

    redis.Redis.from_url(url).flushdb()
    yield url
    celery_app.conf.broker_url = old
    celery_app._after_fork()
