"""Personas (healthchecks style): alice owns org A, bob is her teammate, charlie is an outsider in org B."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import Membership, Organization
from accounts.services import apikey_create, organization_create, user_create
from tests.factories import make_agent
from tests.fakes.llm_server import FakeLLM


@pytest.fixture
def org_a(db: None) -> Organization:
    return organization_create(name="Org A")


@pytest.fixture
def org_b(db: None) -> Organization:
    return organization_create(name="Org B")


@pytest.fixture
def alice(org_a: Organization) -> Any:
    return user_create(username="alice", password="password-alice", organization=org_a, role=Membership.Role.OWNER)


@pytest.fixture
def bob(org_a: Organization) -> Any:
    return user_create(username="bob", password="password-bob", organization=org_a, role=Membership.Role.MEMBER)


@pytest.fixture
def charlie(org_b: Organization) -> Any:
    return user_create(username="charlie", password="password-charlie", organization=org_b, role=Membership.Role.OWNER)


@pytest.fixture
def api_client_for() -> Callable[[Any], APIClient]:
    """An APIClient that sends a fresh API key of the given user as a bearer token."""

    def make(user: Any) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {apikey_create(user=user, name='test').raw_key}")
        return client

    return make


@pytest.fixture
def alice_api(alice: Any, api_client_for: Callable[[Any], APIClient]) -> APIClient:
    return api_client_for(alice)


@pytest.fixture
def bob_api(bob: Any, api_client_for: Callable[[Any], APIClient]) -> APIClient:
    return api_client_for(bob)


@pytest.fixture
def charlie_api(charlie: Any, api_client_for: Callable[[Any], APIClient]) -> APIClient:
    return api_client_for(charlie)


@pytest.fixture
def agent_a(alice: Any) -> Any:
    """An agent of Alice's (memory and recall tests)."""
    return make_agent(alice, name="alice-agent")


@pytest.fixture(scope="session")
def fake_llm_server() -> Iterator[FakeLLM]:
    """One scripted fake LLM per session; a live server started by the tests is pointed at it too."""
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def fake_llm(fake_llm_server: FakeLLM, settings: Any) -> Iterator[FakeLLM]:
    """The session's fake LLM with an empty script and no recorded requests, reached by this process's model calls.

    Runs this process creates stay queued (the "manual" executor): the test drives them with `run_execute`, so
    no background thread takes a scripted reply meant for the test. A test that exercises an executor sets
    ENGRAM_RUN_EXECUTOR itself. A live server is a separate process configured at start, so it is unaffected.
    """
    fake_llm_server.reset()
    settings.OPENAI_API_BASE = fake_llm_server.base_url
    settings.ENGRAM_RUN_EXECUTOR = "manual"
    yield fake_llm_server
    fake_llm_server.reset()


@pytest.fixture(autouse=True)
def no_pool_left_behind() -> Iterator[None]:
    """A test that used the in-process executor leaves no pool behind: its sweeps and reaping would act on later
    tests' runs (a sweep here re-sent a run another test's Celery worker was meant to find, to the manual executor)."""
    yield
    from agents.runtime import executor

    executor.shutdown()


# End-to-end fixtures (live daphne server, Chromium).
from tests.live import browser, daphne_server, daphne_server_process, page  # noqa: E402, F401
from tests.mcp_servers import close_sessions, http_mcp  # noqa: E402, F401
