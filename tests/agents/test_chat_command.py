import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.fakes.llm_server import Reply, ToolCall

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_chats_shows_tool_calls_and_memory(fake_llm, make_agent, monkeypatch, settings):
    settings.ENGRAM_RUN_EXECUTOR = "inprocess"
    make_agent(name="ada-bot")
    fake_llm.push(Reply(tool_calls=[ToolCall("memory_insert", {"label": "human", "new_string": "Likes tea"})]))
    fake_llm.reply("Got it, tea it is.")
    lines = iter(["I like tea", "/memory", "/quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    out = io.StringIO()
    call_command("chat", "ada-bot", stdout=out)
    text = out.getvalue()
    assert "memory_insert" in text
    assert "agent> Got it, tea it is." in text
    assert "[human] (9/200 chars)" in text and "Likes tea" in text


def test_an_unknown_agent_is_an_error(db):
    with pytest.raises(CommandError):
        call_command("chat", "nobody")
