import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django must be set up before anything imports models (consumers, auth middleware).
django.setup(set_prefix=False)

from config.daphne import install_line_limit_responses  # noqa: E402
from config.handlers import EngramASGIHandler  # noqa: E402

install_line_limit_responses()

django_asgi_app = EngramASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from ade.routing import websocket_urlpatterns  # noqa: E402
from agents.runtime import executor  # noqa: E402
from agents.tools.sandbox import sandbox_log_status  # noqa: E402
from lib import tracing  # noqa: E402
from lib.dbpool import pool_watch_start  # noqa: E402
from lib.origins import SameOriginValidator  # noqa: E402

tracing.setup()  # OpenTelemetry spans, when the OTEL_* settings ask for an exporter
if settings.ENGRAM_START_POOL_AT_BOOT:  # a serving process (not the test runner, which imports this module)
    pool_watch_start()  # broken pooled connections (a PostgreSQL restart) are replaced before a request meets them
sandbox_log_status()  # the server says at start-up which isolation custom tools get (or that they are disabled)
if settings.ENGRAM_RUN_EXECUTOR == "inprocess" and settings.ENGRAM_START_POOL_AT_BOOT:
    executor.start()  # runs a killed predecessor left on this data directory are recovered now, not on a request

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
