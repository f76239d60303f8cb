"""Engram settings: one module, driven by the environment (see README for every variable)."""

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_int,
    env_list,
    env_networks,
    env_rate,
    env_secret,
    env_str,
    env_url,
    env_url_list,
    persistent_secret_key,
    private_dir,
    proxy_ssl_header,
)

django_stubs_ext.monkeypatch()

# litellm fetches a price list from the network at import time unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = private_dir(Path(env_str("ENGRAM_DATA_DIR") or BASE_DIR / "var").resolve())

SECRET_KEY = persistent_secret_key(DATA_DIR)
# Fernet keys for secrets stored at rest (lib/crypto.py), newest first; a key derived from SECRET_KEY is always
# tried last, and is the only one a default installation uses.
ENGRAM_SECRETS_KEYS = [k.strip() for k in env_str("ENGRAM_SECRETS_KEYS").split(",") if k.strip()]
ENGRAM_VERSION = "0.1.0"
# The Letta server release whose /v1 API Engram matches (reported by /v1/health/ as `version`).
LETTA_COMPATIBLE_VERSION = "0.16.8"
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"CSRF_TRUSTED_ORIGINS entries must start with http:// or https://, got {_origin!r}")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Redoc for /v1/docs/, served from static/ instead of a CDN
    "channels",
    "django_htmx",
    "template_partials",
    "axes",
    "accounts",
    "memory",
    "files",
    "agents",
    "ade",
]

MIDDLEWARE = [
    "lib.observe.RequestObservationMiddleware",  # first: request id, one log line and the metrics of every request
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a sign-in refused by the lockout into accounts.lockout's page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
APPEND_SLASH = False  # the SDKs POST to both slash forms; a redirect would drop the body

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# Database: SQLite in the data dir by default, PostgreSQL + pgvector for production.
DATABASE_URL = env_url("DATABASE_URL", ("postgres", "postgresql", "sqlite"))
DB_CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 60, minimum=0)
if DATABASE_URL:
    try:
        _db = dj_database_url.parse(DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from None
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    _db = {"ENGINE": "lib.sqlite", "NAME": str(DATA_DIR / "engram.sqlite3")}
if _db["ENGINE"] in ("django.db.backends.sqlite3", "lib.sqlite"):
    # Django's SQLite backend, with this process's writers queued in arrival order (lib/sqlite/base.py).
    _db["ENGINE"] = "lib.sqlite"
    _db["OPTIONS"] = {
        # WAL lets the ADE read while a run writes; IMMEDIATE avoids lock-upgrade deadlocks. Reads go through a
        # 256 MB memory map and a 32 MB page cache per connection (SQLite's default cache is 2 MB, so a search
        # over a big agent's rows re-read its index pages from the OS every time).
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
        "PRAGMA mmap_size=268435456; PRAGMA cache_size=-32768;",
        "transaction_mode": "IMMEDIATE",
        # Seconds a write may wait for its turn (lib.sqlite), and for another process's write (SQLite's busy
        # timeout); past it the API answers 503 with Retry-After (lib.dbpool).
        "timeout": env_int("ENGRAM_SQLITE_TIMEOUT", 20, minimum=1),
    }

# PostgreSQL: a connection pool per process. Under ASGI (daphne) every request runs its sync code in a thread of
# its own, so a connection kept per thread (CONN_MAX_AGE) would be a new connection per request, never reused;
# with the pool a request borrows a connection and returns it when it ends. DB_POOL_SIZE caps the pool;
# DB_POOL_SIZE=0 turns pooling off, and then DB_CONN_MAX_AGE applies.
DB_POOL_SIZE = env_int("DB_POOL_SIZE", 10, minimum=0)
# How long a request or task waits for a pooled connection before its database counts as unavailable (a 503 with
# Retry-After, lib/dbpool.py): all connections busy, or PostgreSQL down or restarting.
DB_POOL_TIMEOUT = env_int("DB_POOL_TIMEOUT", 10, minimum=1)
# After a failed connect psycopg_pool tries again 1, 2, 4… s later until this many seconds have passed; 0: once more
# at once, then it gives up. A new attempt starts with the next borrower, or within POOL_WATCH_SECONDS for one left
# waiting (lib.dbpool's pool watch), so a PostgreSQL that is back is used within a fraction of a second, not after
# a back-off that started while it was away (psycopg_pool's default, 300 s, spaces the tries up to a minute apart).
DB_POOL_RECONNECT_SECONDS = 0


def use_postgres_pool(db: Any) -> None:  # a dj_database_url DBConfig
    # A connection is checked (an empty query) before it is lent: after a PostgreSQL restart the pool's old
    # connections are dropped there instead of failing the request that borrowed them.
    db["CONN_HEALTH_CHECKS"] = env_bool("DB_CONN_HEALTH_CHECKS", True)
    if DB_POOL_SIZE:
        db["CONN_MAX_AGE"] = 0
        db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, DB_POOL_SIZE),
            "max_size": DB_POOL_SIZE,
            "timeout": DB_POOL_TIMEOUT,
            "reconnect_timeout": DB_POOL_RECONNECT_SECONDS,
        }


if _db["ENGINE"] != "lib.sqlite":
    use_postgres_pool(_db)
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: when set, runs go to Celery workers and websocket events through channels-redis.
# When unset (the embedded default), runs execute in-process and the channel layer lives in memory.
REDIS_URL = env_url("REDIS_URL", ("redis", "rediss", "unix"))
if REDIS_URL:
    # A channel holds up to ENGRAM_CHANNEL_CAPACITY events; beyond that channels-redis drops new ones silently
    # (its default, 100, dropped token deltas of fast models: a stream's deltas then missed text). lib.channel_layer
    # is channels-redis's layer with batched sends for the event publisher.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "lib.channel_layer.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": env_int("ENGRAM_CHANNEL_CAPACITY", 10_000, minimum=100)},
        }
    }
else:
    # Token deltas of a fast model arrive in bursts; the default capacity (100 per channel) would drop some.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 10_000}}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection before and after every task unless this is set: a new
# PostgreSQL connection per run (~3 ms). Connections live by DB_CONN_MAX_AGE instead: config/celery.py closes
# old or broken ones around each task, as Django does around each request.
CELERY_DB_REUSE_MAX = 2**31
CELERY_TASK_DEFAULT_QUEUE = "default"
# Must stay above the longest task time_limit, or Redis redelivers a task that is still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True


def broker_transport(url: str | None) -> str | None:
    """kombu's Redis transport with one fix (config/celery.py): a Redis restart no longer makes the worker exit."""
    return "config.celery:RedisTransport" if (url or "").startswith("redis://") else None


CELERY_BROKER_TRANSPORT = broker_transport(REDIS_URL)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in rate limit (django-axes): the ADE sign-in and the admin login both go through authenticate(), where
# AxesStandaloneBackend refuses a username, or an address, with ENGRAM_LOGIN_FAILURE_LIMIT failures in the last
# ENGRAM_LOGIN_COOLOFF_MINUTES, even with the right password. Per username stops a spread-out guess at one account;
# per address stops one client guessing many usernames. `manage.py axes_reset_username NAME` unlocks early.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("ENGRAM_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ENGRAM_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# A success does not wipe the failures: anyone with an account could otherwise sign in between guesses to reset
# their address's count.
AXES_RESET_ON_SUCCESS = False

# An open websocket re-reads its session (still there, user active, password unchanged) before relaying an event
# at most this often; sign-outs, removals and password changes in the ADE close sockets at once anyway.
ENGRAM_WS_RECHECK_SECONDS = env_int("ENGRAM_WS_RECHECK_SECONDS", 60, minimum=0)

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "ade:home"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # collectstatic target in production; WhiteNoise wants it to exist
WHITENOISE_USE_FINDERS = True  # serve straight from static/ without a collectstatic step

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
# HTTPS, for a deployment behind a TLS proxy (all off by default: the embedded profile serves plain HTTP on
# localhost). `manage.py check --deploy` is clean once they and the cookie flags above are set (README).
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Load balancers and orchestrators probe these over plain HTTP inside the network; a redirect would fail them.
SECURE_REDIRECT_EXEMPT = [r"^(v1|latest)/(health|ready)/?$"]
SECURE_PROXY_SSL_HEADER = proxy_ssl_header("SECURE_PROXY_SSL_HEADER")
X_FRAME_OPTIONS = "DENY"
# Bodies above this get a 413 from the API instead of being parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("ENGRAM_MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1024)
FILE_UPLOAD_HANDLERS = [
    "api.uploads.LimitedUploadHandler",  # files count against the same limit
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.APIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser", "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.base.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["api.throttles.APIKeyThrottle", "api.throttles.OrganizationThrottle"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Engram API",
    "DESCRIPTION": "Stateful LLM agents with long-term memory; wire-compatible with the Letta client SDKs.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["api.base.schema_endpoints"],  # each operation once, under /v1/
    "ENUM_NAME_OVERRIDES": {
        "EditableMessageTypeEnum": "api.views.messages.EDITABLE_MESSAGE_TYPES",
        "MessageTypeEnum": "api.schemas.MESSAGE_TYPES",  # the SDK's MessageType (reads and include_return_…)
        # An identity property's `type`; named here, it no longer collides with other `type` fields (W001).
        "IdentityPropertyTypeEnum": ["string", "number", "boolean", "json"],
        "StopReasonType": "agents.models.StopReason.wire_values",  # Letta's name for the set
    },
}

# LLM access (litellm). OPENAI_API_BASE points openai/* handles at any OpenAI-compatible server.
OPENAI_API_BASE = env_str("OPENAI_API_BASE")
# Further base URLs an agent's model_settings.api_base may name; the server's provider keys go to these too
# (lib/providers.py). Nothing else: a base URL from a client or an agent file is refused.
ENGRAM_ALLOWED_API_BASES = env_url_list("ENGRAM_ALLOWED_API_BASES", ("http", "https"))
ENGRAM_DEFAULT_MODEL = env_str("ENGRAM_DEFAULT_MODEL", "openai/gpt-4o-mini")
ENGRAM_DEFAULT_EMBEDDING = env_str("ENGRAM_DEFAULT_EMBEDDING", "local/all-minilm-l6-v2-int8")
ENGRAM_LLM_TIMEOUT = env_int("ENGRAM_LLM_TIMEOUT", 120, minimum=1)
ENGRAM_LLM_MAX_RETRIES = env_int("ENGRAM_LLM_MAX_RETRIES", 3, minimum=0, maximum=10)
# First retry waits this long, doubling each time (with jitter), capped at 30 s.
ENGRAM_LLM_RETRY_BACKOFF_MS = env_int("ENGRAM_LLM_RETRY_BACKOFF_MS", 1000, minimum=0)
# Model that writes the running summary during compaction; empty = the agent's own model.
ENGRAM_SUMMARIZER_MODEL = env_str("ENGRAM_SUMMARIZER_MODEL")
# Compaction starts when a request would fill this share of the context window.
ENGRAM_COMPACTION_THRESHOLD = env_int("ENGRAM_COMPACTION_THRESHOLD_PERCENT", 90, minimum=10, maximum=99) / 100

# Where runs execute: Celery workers when Redis is configured, else a small thread pool in the server process.
ENGRAM_RUN_EXECUTOR = env_str("ENGRAM_RUN_EXECUTOR", "celery" if REDIS_URL else "inprocess")
if ENGRAM_RUN_EXECUTOR not in ("celery", "inprocess", "manual"):
    raise ImproperlyConfigured(f"ENGRAM_RUN_EXECUTOR must be celery, inprocess or manual, got {ENGRAM_RUN_EXECUTOR!r}")
ENGRAM_INPROCESS_WORKERS = env_int("ENGRAM_INPROCESS_WORKERS", 4, minimum=1, maximum=64)
# The web process (config/asgi.py) starts the in-process pool as it boots, so runs a killed predecessor left are
# recovered at once rather than on the first request. Off in processes that only import the app (the test runner).
ENGRAM_START_POOL_AT_BOOT = env_bool("ENGRAM_START_POOL_AT_BOOT", True)
# Fairness between organizations (agents.runtime.dispatch): runs in flight (running, or handed to the executor)
# per organization; the rest wait queued in the database. Dispatches older than the stale age are re-sent by the
# sweep, which runs every ENGRAM_DISPATCH_SWEEP_SECONDS in each in-process pool and Celery worker.
ENGRAM_ORG_MAX_ACTIVE_RUNS = env_int("ENGRAM_ORG_MAX_ACTIVE_RUNS", 2, minimum=1)
ENGRAM_DISPATCH_STALE_SECONDS = env_int("ENGRAM_DISPATCH_STALE_SECONDS", 300, minimum=10)
ENGRAM_DISPATCH_SWEEP_SECONDS = env_int("ENGRAM_DISPATCH_SWEEP_SECONDS", 60, minimum=1)
# Recovery of runs whose holder died (agents.runtime.lease): a running run's lease lasts ENGRAM_RUN_LEASE_SECONDS
# and its holder renews it every third of that; a lapsed lease is found by the reaper, which runs every
# ENGRAM_RUN_REAP_SECONDS in each in-process pool and Celery worker and hands the run back to the queue (it resumes
# after its last persisted step), at most ENGRAM_RUN_MAX_RECOVERIES times; then the run fails with the reason.
ENGRAM_RUN_LEASE_SECONDS = env_int("ENGRAM_RUN_LEASE_SECONDS", 30, minimum=3)
ENGRAM_RUN_REAP_SECONDS = env_int("ENGRAM_RUN_REAP_SECONDS", 5, minimum=1)
ENGRAM_RUN_MAX_RECOVERIES = env_int("ENGRAM_RUN_MAX_RECOVERIES", 3, minimum=0)

# Embeddings (memory.embeddings): CPU threads of the local ONNX model; without REDIS_URL, batches up to
# ENGRAM_EMBED_INLINE_MAX texts are embedded in the writing thread right after commit, larger ones in a thread.
ENGRAM_EMBEDDING_THREADS = env_int("ENGRAM_EMBEDDING_THREADS", 2, minimum=1, maximum=64)
ENGRAM_EMBED_INLINE_MAX = env_int("ENGRAM_EMBED_INLINE_MAX", 64, minimum=0)
# Recall: every new message is embedded in the background so conversation_search also finds it by meaning.
ENGRAM_EMBED_MESSAGES = env_bool("ENGRAM_EMBED_MESSAGES", True)
# Folders and files (files/): the largest file an upload may carry, the most text a parsed file may hold (a
# DOCX or PDF that expands past it is refused), how many files an agent may have open and how many characters of
# each open file its context window shows.
ENGRAM_FILE_MAX_BYTES = env_int("ENGRAM_FILE_MAX_BYTES", 8 * 1024 * 1024, minimum=1)
ENGRAM_FILE_MAX_TEXT_CHARS = env_int("ENGRAM_FILE_MAX_TEXT_CHARS", 20 * 1024 * 1024, minimum=1_000)
ENGRAM_FILES_MAX_OPEN = env_int("ENGRAM_FILES_MAX_OPEN", 5, minimum=1, maximum=100)
ENGRAM_FILE_VIEW_CHARS = env_int("ENGRAM_FILE_VIEW_CHARS", 15_000, minimum=500)
# A file processing that made no progress for this long is taken to be lost and started again.
ENGRAM_FILE_STALE_SECONDS = env_int("ENGRAM_FILE_STALE_SECONDS", 900, minimum=60)
# grep_files: the most milliseconds one call may spend matching its regular expression (a pattern that backtracks
# catastrophically ends with a tool error instead of holding a worker).
ENGRAM_GREP_TIMEOUT_MS = env_int("ENGRAM_GREP_TIMEOUT_MS", 2000, minimum=10, maximum=60_000)
# PostgreSQL: every this many passages or messages a process writes, it analyzes their table (memory/statistics.py);
# 0 leaves statistics to autovacuum.
ENGRAM_ANALYZE_AFTER_ROWS = env_int("ENGRAM_ANALYZE_AFTER_ROWS", 10_000, minimum=0)

# Custom tools (agents.tools.sandbox): the isolation (auto = bwrap: bubblewrap or nothing; process: a plain process,
# trusted single-user machines only; disabled), the bubblewrap command, whether a tool may use the network (under
# bwrap; a plain process always can), the interpreter (empty: the server's, else the first one the tool's uid can
# run), the first of the 65,536 uids tools run as when the server is root, and each call's wall-clock and CPU
# seconds, address space, largest file or output, size of its /tmp and working directory, and processes.
ENGRAM_TOOL_SANDBOX = env_str("ENGRAM_TOOL_SANDBOX", "auto")
if ENGRAM_TOOL_SANDBOX not in ("auto", "bwrap", "process", "disabled"):
    raise ImproperlyConfigured(
        f"ENGRAM_TOOL_SANDBOX must be auto, bwrap, process or disabled, got {ENGRAM_TOOL_SANDBOX!r}"
    )
ENGRAM_BWRAP = env_str("ENGRAM_BWRAP", "bwrap")
ENGRAM_TOOL_NETWORK = env_bool("ENGRAM_TOOL_NETWORK", False)
ENGRAM_TOOL_PYTHON = env_str("ENGRAM_TOOL_PYTHON")
ENGRAM_TOOL_UID_BASE = env_int("ENGRAM_TOOL_UID_BASE", 2_000_000_000, minimum=1_000, maximum=4_294_901_758)
ENGRAM_TOOL_TIMEOUT = env_int("ENGRAM_TOOL_TIMEOUT", 30, minimum=1, maximum=3600)
ENGRAM_TOOL_MEMORY_MB = env_int("ENGRAM_TOOL_MEMORY_MB", 1024, minimum=64)
ENGRAM_TOOL_TMP_MB = env_int("ENGRAM_TOOL_TMP_MB", 64, minimum=1)
ENGRAM_TOOL_MAX_PROCESSES = env_int("ENGRAM_TOOL_MAX_PROCESSES", 32, minimum=1, maximum=4096)
ENGRAM_TOOL_OUTPUT_MB = env_int("ENGRAM_TOOL_OUTPUT_MB", 16, minimum=1)
# Custom-tool processes an organization may run at once through the tool-run routes, per server process
# (agents.tools.limits); more is a 429.
ENGRAM_ORG_MAX_TOOL_PROCESSES = env_int("ENGRAM_ORG_MAX_TOOL_PROCESSES", 2, minimum=1)

# MCP servers (agents.tools.mcp): whether a server's URL may be a private, loopback or reserved address
# (lib.netguard), the seconds a connection (connect + handshake) and a tool call may take, how long an unused
# connection stays open, and for stdio servers (run under the custom-tool sandbox) whether they reach the network
# and their address space.
ENGRAM_MCP_ALLOW_PRIVATE = env_bool("ENGRAM_MCP_ALLOW_PRIVATE", False)
ENGRAM_MCP_CONNECT_TIMEOUT = env_int("ENGRAM_MCP_CONNECT_TIMEOUT", 30, minimum=1, maximum=600)
ENGRAM_MCP_TIMEOUT = env_int("ENGRAM_MCP_TIMEOUT", 60, minimum=1, maximum=3600)
ENGRAM_MCP_IDLE_SECONDS = env_int("ENGRAM_MCP_IDLE_SECONDS", 300, minimum=1)
ENGRAM_MCP_STDIO_NETWORK = env_bool("ENGRAM_MCP_STDIO_NETWORK", False)
ENGRAM_MCP_MEMORY_MB = env_int("ENGRAM_MCP_MEMORY_MB", 4096, minimum=64)

# Logs (lib/logs.py): LOG_FORMAT=json writes one JSON object per line; either format carries the ids of the
# request, organization, agent and run being served. One line per request (engram.request) and per run (engram.run).
LOG_FORMAT = env_str("LOG_FORMAT", "text")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, got {LOG_FORMAT!r}")
# Human approvals (agents.services.approvals): how long a tool call waits for its answer before it is denied.
ENGRAM_APPROVAL_TTL = env_int("ENGRAM_APPROVAL_TTL", 24 * 3600, minimum=1)
# The web tools (agents.tools.web): fetch_webpage's limits, whether it may reach private and loopback addresses
# (lib/netguard.py; off in production), and the search provider: a SearXNG instance's JSON API, or the Brave
# Search API by key. Without either, web_search answers with a tool error saying so.
ENGRAM_FETCH_TIMEOUT = env_int("ENGRAM_FETCH_TIMEOUT", 15, minimum=1, maximum=300)
ENGRAM_FETCH_MAX_BYTES = env_int("ENGRAM_FETCH_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
ENGRAM_FETCH_ALLOW_PRIVATE = env_bool("ENGRAM_FETCH_ALLOW_PRIVATE", False)
ENGRAM_SEARXNG_URL = env_url("ENGRAM_SEARXNG_URL", ("http", "https"))
ENGRAM_BRAVE_SEARCH_API_KEY = env_secret("ENGRAM_BRAVE_SEARCH_API_KEY")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"ids": {"()": "lib.logs.ContextFilter"}},
    "formatters": {
        "json": {"()": "lib.logs.JsonFormatter"},
        "text": {"()": "lib.logs.TextFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["ids"], "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"LiteLLM": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}

# Metrics (GET /metrics, Prometheus text format; lib/metrics.py). Answered to a bearer ENGRAM_METRICS_TOKEN, or
# to a client address inside ENGRAM_METRICS_ALLOWED_IPS (addresses or networks; default: this machine only).
# Several processes (daphne replicas, Celery workers) share their counts through PROMETHEUS_MULTIPROC_DIR.
ENGRAM_METRICS_TOKEN = env_secret("ENGRAM_METRICS_TOKEN")
ENGRAM_METRICS_ALLOWED_IPS = env_networks("ENGRAM_METRICS_ALLOWED_IPS", ["127.0.0.1/32", "::1/128"])

# The shared cache (rate-limit counters): Redis when configured, so every process counts together; else memory.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "engram",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "engram"}}

# Rate limits on the API (api/throttles.py), "N/second|minute|hour|day"; empty = none. Per API key (a session
# counts as its user), and per organization (all its keys and members together). Over a limit: 429 + Retry-After.
ENGRAM_RATE_LIMIT_KEY = env_rate("ENGRAM_RATE_LIMIT_KEY")
ENGRAM_RATE_LIMIT_ORG = env_rate("ENGRAM_RATE_LIMIT_ORG")
# Quotas per organization (agents/quotas.py); 0 = none. Agents it may have; LLM tokens its runs may use per UTC
# day (a run is refused once the day's total reached it; the run that crosses it finishes).
ENGRAM_QUOTA_AGENTS = env_int("ENGRAM_QUOTA_AGENTS", 0, minimum=0)
ENGRAM_QUOTA_TOKENS_PER_DAY = env_int("ENGRAM_QUOTA_TOKENS_PER_DAY", 0, minimum=0)
