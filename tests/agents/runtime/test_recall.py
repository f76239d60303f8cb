"""conversation_search over every message of an agent (agents.runtime.recall), on both databases."""

import datetime as dt
import time
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from agents.models import Message
from agents.runtime.recall import message_search
from agents.services.messages import MessageSpec, message_create_many
from memory.services.embeddings import MESSAGES, rows_embed
from tests.factories import make_agent
from tests.memory.conftest import BASE

MODES = ["hybrid", "vector", "text"]


@pytest.fixture
def converse() -> Any:
    """Store a conversation spread over days and embed it right away (production embeds after commit, off the
    agent's thread). Written as an imported agent file writes history (message_create_many with each message's
    own date and context flag): the loop stamps every message "now", and these tests need weeks between them."""

    def run(agent: Any, lines: list[tuple[str, str]], in_context: bool = True, day0: int = 0) -> list[Message]:
        specs = [
            MessageSpec(role=role, text=text, in_context=in_context, created_at=BASE + dt.timedelta(days=day0 + i))
            for i, (role, text) in enumerate(lines)
        ]
        rows = message_create_many(agent=agent, specs=specs, publish=False)
        rows_embed(label=MESSAGES, ids=[str(r.pk) for r in rows])
        return rows

    return run


@pytest.mark.parametrize("mode", MODES)
def test_it_searches_evicted_and_in_context_messages(agent_a: Any, converse: Any, mode: str) -> None:
    converse(agent_a, [("user", "My sister Maria lives in Lisbon")], in_context=False)
    converse(agent_a, [("assistant", "Lisbon sounds lovely, tell me about Maria")], day0=5)
    hits = message_search(agent=agent_a, query="Where does my sister Maria live?", mode=mode)
    assert {h.message.in_context for h in hits} == {True, False}


@pytest.mark.parametrize("mode", MODES)
def test_it_honours_roles_and_dates_before_the_limit(agent_a: Any, converse: Any, mode: str) -> None:
    lines = [("user" if i % 2 else "assistant", f"We talked about hiking trip {i}") for i in range(40)]
    converse(agent_a, lines)
    start, end = BASE + dt.timedelta(days=10), BASE + dt.timedelta(days=19)
    hits = message_search(agent=agent_a, query="hiking trip", roles=["user"], start=start, end=end, limit=10, mode=mode)
    assert len(hits) == 5
    assert all(h.message.role == "user" and start <= h.message.created_at <= end for h in hits)


def test_it_pages_and_stays_within_the_agent(alice: Any, charlie: Any, agent_a: Any, converse: Any) -> None:
    converse(agent_a, [("user", f"coffee talk {i}") for i in range(7)])
    converse(make_agent(alice, name="sibling"), [("user", f"coffee talk {i}") for i in range(7)])
    converse(make_agent(charlie, name="outsider"), [("user", f"coffee talk {i}") for i in range(7)])
    for mode in MODES:
        first = message_search(agent=agent_a, query="coffee talk", limit=4, mode=mode)
        second = message_search(agent=agent_a, query="coffee talk", limit=4, offset=4, mode=mode)
        assert len(first) == 4
        assert len(second) == 3
        ids = {h.message.id for h in first + second}
        assert ids == set(Message.objects.filter(agent=agent_a).values_list("id", flat=True))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "x", "roles": ["wizard"]}, "roles"),
        ({"query": "x", "roles": "user"}, "roles"),
        ({"query": "x", "limit": 0}, "limit"),
        ({"query": "x", "mode": "fuzzy"}, "mode"),
        ({"query": "x", "end": dt.datetime(2024, 1, 1)}, "end"),  # noqa: DTZ001
    ],
)
def test_bad_input_is_a_validation_error(agent_a: Any, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        message_search(agent=agent_a, **kwargs)
    assert field in excinfo.value.message_dict


@pytest.mark.django_db(transaction=True)
def test_new_messages_are_embedded_in_the_background(agent_a: Any, settings: Any) -> None:
    settings.ENGRAM_EMBED_MESSAGES = True
    [message] = message_create_many(agent=agent_a, specs=[MessageSpec(role="user", text="My dog is called Biscuit")])
    deadline = time.monotonic() + 60
    while Message.objects.filter(pk=message.pk, embedding_hash="").exists():
        assert time.monotonic() < deadline, "the message was never embedded"
        time.sleep(0.05)
    hits = message_search(agent=agent_a, query="what is the name of my puppy?", mode="vector")
    assert hits[0].message.pk == message.pk
