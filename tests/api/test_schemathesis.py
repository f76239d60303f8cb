"""Property-based fuzzing of /v1 from its own OpenAPI schema (schemathesis): no input gives a 5xx.

Runs in-process through WSGI on the test database, bounded by MAX_EXAMPLES per operation (~1 minute in all).
Path ids are the caller's real objects half the time, so request bodies reach the services instead of stopping
at a 404; sends and streams keep random ids (their runs would wait for a worker)."""

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from accounts.services import apikey_create
from tests.api.conftest import world
from tests.fakes.llm_server import FakeLLM

pytestmark = pytest.mark.slow
MAX_EXAMPLES = int(os.environ.get("ENGRAM_FUZZ_EXAMPLES", "12"))
_alternate = itertools.cycle([True, False])
NO_REAL_IDS = {
    "send_message",
    "create_agent_message_stream",
    "retrieve_stream",
    "send_conversation_message",
    "retrieve_conversation_stream",
}


@pytest.fixture(autouse=True)
def keep_the_test_connection(db: None) -> Iterator[None]:
    """Like Django's test client: requests must not close the test's connection (and its transaction)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


# Loaded at collection: the schema endpoint needs neither a key nor the database.
schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", get_wsgi_application())


@pytest.fixture
def fuzz_world(alice: Any, fake_llm: FakeLLM) -> dict[str, Any]:
    key = apikey_create(user=alice, name="fuzz").raw_key
    return {"ids": world(alice, fake_llm), "headers": {"Authorization": f"Bearer {key}"}}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_input_gives_a_server_error(case: Any, fuzz_world: dict[str, Any]) -> None:
    if case.path_parameters and case.operation.definition.raw.get("operationId") not in NO_REAL_IDS:
        for name in case.path_parameters:
            if name in fuzz_world["ids"] and next(_alternate):
                case.path_parameters[name] = fuzz_world["ids"][name]
    response = case.call_and_validate(headers=fuzz_world["headers"], checks=[not_a_server_error])
    if os.environ.get("ENGRAM_FUZZ_LOG"):
        with open(os.environ["ENGRAM_FUZZ_LOG"], "a") as log:
            log.write(f"{response.status_code} {case.method} {case.path}\n")
