"""The chat shows one compact item per tool call, its return folded in, in the page, the live tail and older pages
alike: a page never starts on a tool return, so no return is cut off from its call."""

import re
from typing import Any

import pytest
from django.test import Client

from agents.models import Agent, Message
from tests import factories
from tests.fakes.llm_server import FakeLLM

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def items(html: str) -> list[str]:
    """The data-seq of each chat item, in order."""
    return re.findall(r'<article class="msg [^"]*" data-seq="(\d+)"', html)


def test_a_tool_call_is_one_item_with_its_return_and_status(
    alice_client: Client, alice: Any, agent: Agent, fake_llm: FakeLLM
) -> None:
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "Likes: green tea"})
    fake_llm.reply("Noted.")
    factories.send(alice, agent, "I like green tea")
    page = alice_client.get(f"/agents/{agent.id}/messages/?since=0", **HX).content.decode()
    assert page.count('class="tool-call tool-item done"') == 1
    assert "tool-return" not in page  # folded, not an item of its own
    item = page[page.index("tool-item done") : page.index("</details>", page.index("tool-item done"))]
    assert "label: &quot;human&quot;, new_string: &quot;Likes: green tea&quot;" in item  # the short arguments
    returned = Message.objects.get(agent=agent, role="tool").text
    assert returned and returned.replace("'", "&#x27;").replace('"', "&quot;") in item
    assert len(items(page)) == Message.objects.filter(agent=agent).exclude(role="tool").count()


def test_a_page_never_starts_on_a_tool_return(
    alice_client: Client, alice: Any, agent: Agent, fake_llm: FakeLLM
) -> None:
    for turn in range(2):
        fake_llm.reply(f"old reply {turn}")
        factories.send(alice, agent, f"old {turn}")
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "Likes: tea"})
    fake_llm.reply("Saved the tea.")
    factories.send(alice, agent, "I like tea")
    for turn in range(19):
        fake_llm.reply(f"new reply {turn}")
        factories.send(alice, agent, f"new {turn}")
    rows = list(Message.objects.filter(agent=agent).order_by("-seq"))
    assert rows[39].role == "tool", "precondition: the 40th newest row is the tool return"
    call = rows[40]
    assert call.role == "assistant" and call.tool_calls

    page = alice_client.get(f"/agents/{agent.id}/").content.decode()
    shown = items(page)
    assert shown[0] == str(call.seq)  # the page starts at the call, and its return is folded into it
    assert page.count('class="tool-call tool-item done"') == 1 and "tool-return" not in page
    assert f"?before={call.seq}" in page  # older ones exist

    older = alice_client.get(f"/agents/{agent.id}/messages/?before={call.seq}", **HX).content.decode()
    assert items(older) == [str(r.seq) for r in reversed(rows[41:])]
    assert "Load earlier messages" not in older
