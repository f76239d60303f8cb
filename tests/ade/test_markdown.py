"""Chat Markdown is rendered on the server and sanitized; a failed run offers a retry that sends its input again."""

import re
from typing import Any

import pytest
from django.test import Client

from ade.markdown import render_markdown
from agents.models import Agent, Run, RunStatus
from tests import factories
from tests.fakes.llm_server import FakeLLM

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def test_it_renders_markdown() -> None:
    html = render_markdown("**bold** and `code`\nnext line\n\n- a\n- b\n\n```\nx < 1\n```")
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html and "<br>" in html
    assert "<ul>\n<li>a</li>" in html and "<pre><code>x &lt; 1\n</code></pre>" in html


@pytest.mark.parametrize(
    "attack",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        "<style>body{display:none}</style>",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
    ],
)
def test_it_leaves_no_markup_that_runs(attack: str) -> None:
    html = render_markdown(attack).lower()
    assert "<script" not in html and "<img" not in html and "<style" not in html
    assert not re.search(r"<[a-z][^>]*\son\w+=", html), html  # no event handler on any tag
    assert not re.search(r'<a[^>]*href="(javascript|data):', html), html


def test_links_open_safely() -> None:
    html = render_markdown("[docs](https://example.org/a)")
    assert '<a href="https://example.org/a" rel="noopener noreferrer nofollow">docs</a>' in html


def test_the_chat_shows_replies_as_markdown(alice_client: Client, alice: Any, agent: Agent, fake_llm: FakeLLM) -> None:
    fake_llm.reply("Here:\n\n1. **tea**\n2. <b onclick=x>cake</b>")
    factories.send(alice, agent, "list *snacks*")
    page = alice_client.get(f"/agents/{agent.id}/messages/?since=0", **HX).content.decode()
    assert '<div class="bubble md"><p>list <em>snacks</em></p>' in page
    assert "<li><strong>tea</strong></li>" in page
    assert "&lt;b onclick=x&gt;cake&lt;/b&gt;" in page and "<b onclick" not in page


def test_a_failed_run_offers_a_retry_that_sends_its_input_again(
    alice_client: Client, alice: Any, agent: Agent, fake_llm: FakeLLM
) -> None:
    fake_llm.error(401)  # not retried by the loop: the run fails at once
    failed = factories.send(alice, agent, "please answer")
    assert failed.status == RunStatus.FAILED
    page = alice_client.get(f"/agents/{agent.id}/messages/?since=0", **HX).content.decode()
    assert (
        "Run failed: the model provider returned 401 (authentication failed). Check the provider&#x27;s API key" in page
    )
    assert f'hx-post="/agents/{agent.id}/runs/{failed.id}/retry/"' in page
    response = alice_client.post(f"/agents/{agent.id}/runs/{failed.id}/retry/", **HX)
    assert response.status_code == 200 and response["HX-Trigger"] == '{"engram:run": {}}'
    retry = Run.objects.filter(agent=agent).exclude(pk=failed.pk).get()
    assert retry.status == RunStatus.QUEUED
    assert [m.text for m in retry.messages.filter(role="user")] == ["please answer"]


def test_only_a_failed_run_is_retried(alice_client: Client, alice: Any, agent: Agent, fake_llm: FakeLLM) -> None:
    fake_llm.reply("fine")
    done = factories.send(alice, agent, "hello")
    response = alice_client.post(f"/agents/{agent.id}/runs/{done.id}/retry/", **HX)
    assert response.status_code == 422
    assert Run.objects.filter(agent=agent).count() == 1
    page = alice_client.get(f"/agents/{agent.id}/messages/?since=0", **HX).content.decode()
    assert "/retry/" not in page


def test_an_outsider_cannot_retry(charlie: Any, alice: Any, agent: Agent, fake_llm: FakeLLM) -> None:
    fake_llm.error(401)
    failed = factories.send(alice, agent, "hi")
    outsider = Client()
    outsider.force_login(charlie)
    assert outsider.post(f"/agents/{agent.id}/runs/{failed.id}/retry/", **HX).status_code == 404
    assert Run.objects.filter(agent=agent).count() == 1
