"""Settings for a Celery worker subprocess started by the tests: the test settings, pointed at the test
database (which pytest-django created) and at the private Redis, with a short visibility timeout so that a
killed worker's unacknowledged task is redelivered within seconds. With ENGRAM_TEST_CHANNELS_REDIS=1 the channel
layer is channels-redis on that Redis too (a production-like daphne or worker: tests/agents/runtime/
test_redis_outage.py)."""

import os

_redis_url = os.environ["ENGRAM_TEST_REDIS_URL"]

from config.settings_test import *  # noqa: E402, F403
from config.settings_test import DATABASES, broker_transport  # noqa: E402

REDIS_URL = _redis_url
CELERY_BROKER_URL = _redis_url
CELERY_BROKER_TRANSPORT = broker_transport(_redis_url)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # The recovery tests set it high: their runs come back through the lease reaper, not the broker.
    "visibility_timeout": int(os.environ.get("ENGRAM_TEST_VISIBILITY_TIMEOUT", "3")),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
ENGRAM_RUN_EXECUTOR = "celery"
if os.environ.get("ENGRAM_TEST_CHANNELS_REDIS") == "1":
    CHANNEL_LAYERS = {"default": {"BACKEND": "lib.channel_layer.RedisChannelLayer", "CONFIG": {"hosts": [_redis_url]}}}
ENGRAM_EMBED_MESSAGES = bool(os.environ.get("ENGRAM_TEST_EMBED_MESSAGES"))
DATABASES["default"]["NAME"] = DATABASES["default"]["TEST"]["NAME"]
