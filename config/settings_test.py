"""Test-only overrides: speed and isolation. The database is real PostgreSQL + pgvector unless
ENGRAM_TEST_DB=sqlite; tests/backing.py starts a private server when DATABASE_URL is not given."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "engram-tests-only-not-secret")
os.environ.setdefault("ENGRAM_DATA_DIR", tempfile.mkdtemp(prefix="engram-test-data-"))
os.environ.pop("REDIS_URL", None)  # tests that need Redis start their own (tests/backing.py)
os.environ.setdefault("ENGRAM_LLM_RETRY_BACKOFF_MS", "5")
os.environ.setdefault("ENGRAM_MCP_ALLOW_PRIVATE", "1")  # the tests' MCP servers listen on 127.0.0.1

from config.settings import *  # noqa: E402, F403
from config.settings import DATA_DIR, DATABASES, use_postgres_pool  # noqa: E402

TEST_DB = os.environ.get("ENGRAM_TEST_DB", "postgres")
if TEST_DB == "postgres":
    import dj_database_url

    from tests.backing import ensure_postgres

    _url = ensure_postgres()
    os.environ["DATABASE_URL"] = _url  # subprocesses (daphne, workers) inherit it
    DATABASES = {"default": dj_database_url.parse(_url)}
    use_postgres_pool(DATABASES["default"])  # as a production server runs
    DATABASES["default"]["TEST"] = {"NAME": "test_engram"}
elif TEST_DB == "sqlite":
    # A file, not :memory:, so a live server or worker in another process sees the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test_engram.sqlite3")}
else:
    raise ValueError(f"ENGRAM_TEST_DB must be postgres or sqlite, got {TEST_DB!r}")

if os.environ.get("ENGRAM_TEST_SERVE_TEST_DB") == "1":
    # A live server started by the tests (tests/live.py) serves the test database itself.
    DATABASES["default"]["NAME"] = DATABASES["default"]["TEST"]["NAME"]

# Only a live server the tests start boots its pool at once; the test process imports config.asgi (websocket tests)
# and must not start background runs, sweeps and reaps of its own there.
ENGRAM_START_POOL_AT_BOOT = os.environ.get("ENGRAM_TEST_SERVE_TEST_DB") == "1"

# Tests that need message embeddings turn this on; elsewhere background embedding threads would only add load.
ENGRAM_EMBED_MESSAGES = False

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 10_000}}}
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
