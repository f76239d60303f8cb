"""ADE states that went stale or wrong (issue #17): each test fails on the bug it names."""

import re
import uuid
from typing import Any

import pytest
from django.test import Client

from agents.models import Agent
from agents.services.agents import agent_block_attach, agent_create
from agents.services.runs import run_create
from memory.models import Block, EmbeddingJob
from memory.services.blocks import block_create, block_update
from memory.services.passages import passage_insert
from tests import factories
from tests.fakes.llm_server import FakeLLM

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def settings_data(agent: Agent, **changes: Any) -> dict[str, Any]:
    return {
        "name": agent.name,
        "agent_type": agent.agent_type,
        "model": agent.model,
        "embedding": agent.embedding,
        "context_window_limit": agent.context_window_limit,
        "system": agent.system,
        "tags": "",
        **changes,
    }


def test_the_context_panel_follows_the_newest_step_unless_one_was_picked(
    alice_client: Client, alice: Any, agent: Agent, fake_llm: FakeLLM
) -> None:
    fake_llm.reply("one")
    first = factories.send(alice, agent, "first").steps.get()
    fake_llm.reply("two")
    second = factories.send(alice, agent, "second").steps.get()
    url = f"/agents/{agent.id}/context/"
    page = alice_client.get(url, **HX).content.decode()
    # The panel re-fetches its own hx-get on each step event: without a step in it, the newest is shown next time.
    assert re.search(rf'aria-label="Context window" hx-get="{url}"', page), page[:400]
    assert f'<option value="{second.id}" selected' in page
    pinned = alice_client.get(f"{url}?step={first.id}", **HX).content.decode()
    assert f'hx-get="{url}?step={first.id}"' in pinned
    assert "Follow the newest step" in pinned


def test_the_dashboard_prints_no_template_comment(alice_client: Client) -> None:
    page = alice_client.get("/dashboard/").content.decode()
    assert "{#" not in page and "#}" not in page
    assert "Run status events" not in page


def test_an_embedding_model_that_cannot_embed_is_refused_and_nothing_is_saved(
    alice_client: Client, agent: Agent
) -> None:
    before = agent.embedding
    response = alice_client.post(
        f"/agents/{agent.id}/settings/", settings_data(agent, name="Renamed", embedding="local/no-such-model"), **HX
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "unknown local embedding model" in page
    assert re.search(r'role="alert"[^>]*>Not saved: check embedding', page)
    agent.refresh_from_db()
    assert (agent.name, agent.embedding) == ("Ada", before)
    assert not EmbeddingJob.objects.filter(agent_id=agent.pk).exists()


def test_a_saved_type_change_updates_the_header(alice_client: Client, agent: Agent) -> None:
    response = alice_client.post(
        f"/agents/{agent.id}/settings/", settings_data(agent, agent_type="memgpt", system=""), **HX
    )
    page = response.content.decode()
    assert "Saved." in page
    assert re.search(r'id="agent-type" class="badge" hx-swap-oob="true">memgpt<', page)


def test_a_refused_attach_says_so_once(alice_client: Client, alice: Any, agent: Agent) -> None:
    clash = block_create(actor=alice, label="human", value="Another human")
    response = alice_client.post(f"/agents/{agent.id}/blocks/attach/", {"block": str(clash.id)}, **HX)
    page = response.content.decode()
    assert page.count('class="error"') == 1, page


def test_the_attach_list_names_owners_and_leaves_out_clashing_labels(
    alice_client: Client, alice: Any, agent: Agent, charlie: Any
) -> None:
    other = agent_create(
        actor=alice, name="Other", model="openai/gpt-4o-mini", memory_blocks=[{"label": "project", "value": "Falcon"}]
    )
    assert other.blocks.filter(label="project").exists()
    block_create(actor=alice, label="notes", value="free notes")
    block_create(actor=alice, label="human", value="a second human")  # Ada has a human block already
    block_create(actor=charlie, label="secret", value="charlie's")
    # The memory column, as its own refresh asks for it (htmx names the target).
    page = alice_client.get(f"/agents/{agent.id}/memory/", **HX, HTTP_HX_TARGET="memory").content.decode()
    assert 'id="memory"' in page and 'id="panel"' not in page
    select = page[page.index('name="block"') : page.index("</select>")]
    assert re.search(r'<optgroup label="Not attached to any agent"><option [^>]*>notes — free notes<', select)
    assert re.search(r"<optgroup label=\"Used by other agents[^\"]*\"><option [^>]*>project of Other — Falcon<", select)
    assert "a second human" not in select
    assert "charlie" not in select


def test_saving_a_block_the_agent_changed_meanwhile_shows_both(alice_client: Client, agent: Agent) -> None:
    block = agent.blocks.get(label="human")
    url = f"/agents/{agent.id}/blocks/{block.id}/"
    form = alice_client.get(url + "?edit=1", **HX).content.decode()
    base = re.search(r'name="base_revision" value="([^"]*)"', form)
    assert base is not None
    # The agent writes while the user edits.
    block_update(block=block, agent_id=agent.id, source="tool", value="Name: Alice\nLikes: tea")
    mine = {"value": "Name: Alice Smith", "limit": 200, "base_revision": base.group(1)}
    response = alice_client.post(url, mine, **HX)
    assert response.status_code == 409
    page = response.content.decode()
    assert "changed while you were editing" in page
    assert "Likes: tea" in page and "Name: Alice Smith" in page  # theirs shown, mine kept in the box
    block.refresh_from_db()
    assert block.value == "Name: Alice\nLikes: tea"
    # Saving again from the conflict form is a deliberate overwrite.
    again = re.search(r'name="base_revision" value="([^"]*)"', page)
    assert again is not None and again.group(1) != base.group(1)
    response = alice_client.post(url, {**mine, "base_revision": again.group(1)}, **HX)
    assert response.status_code == 200
    block.refresh_from_db()
    assert block.value == "Name: Alice Smith"


def test_a_block_never_written_has_an_empty_base_and_saves(alice_client: Client, alice: Any, agent: Agent) -> None:
    fresh = block_create(actor=alice, label="todo", value="")
    agent_block_attach(agent=agent, block=fresh)
    url = f"/agents/{agent.id}/blocks/{fresh.id}/"
    assert 'name="base_revision" value=""' in alice_client.get(url + "?edit=1", **HX).content.decode()
    response = alice_client.post(url, {"value": "buy tea", "limit": 100, "base_revision": ""}, **HX)
    assert response.status_code == 200
    assert Block.objects.get(pk=fresh.pk).value == "buy tea"
    bad = alice_client.post(url, {"value": "x", "limit": 100, "base_revision": "nope"}, **HX)
    assert "base_revision: " in bad.content.decode()


def test_revoking_a_key_says_so_in_place_and_not_on_a_later_page(alice_client: Client, alice: Any) -> None:
    from accounts.services import apikey_create

    key = apikey_create(user=alice, name="laptop")
    page = alice_client.post(f"/keys/{key.api_key.id}/revoke/", **HX).content.decode()
    assert "Revoked laptop." in page
    assert "Revoked laptop" not in alice_client.get("/").content.decode()


def test_a_queued_message_is_labelled_queued_not_recall_only(alice_client: Client, alice: Any, agent: Agent) -> None:
    run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "waiting-marker"}])
    page = alice_client.get(f"/agents/{agent.id}/messages/?since=0", **HX).content.decode()
    item = page[page.index("waiting-marker") - 600 :]
    assert '<span class="badge">queued</span>' in page
    assert "recall only" not in item


def test_a_refused_create_leaves_an_address_that_opens(alice_client: Client) -> None:
    assert alice_client.post("/agents/new/", {"name": "", "preset": "blank"}).status_code == 422
    page = alice_client.get("/agents/new/")
    assert page.status_code == 200
    assert re.search(r'<details class="create" open>\s*<summary class="button">New agent', page.content.decode())
    assert alice_client.get("/agents/import/")["Location"] == "/"


def test_the_archival_panel_re_reads_itself_after_agent_steps(alice_client: Client, alice: Any, agent: Agent) -> None:
    passage = passage_insert(agent=agent, text="kept", tags=["x"])
    page = alice_client.get(f"/agents/{agent.id}/archival/?tags=x", **HX).content.decode()
    assert re.search(r'hx-get="/agents/[^"]+/archival/\?tags=x"', page)
    assert "engram:step[" in page and "engram:passages from:body" in page
    response = alice_client.post(f"/agents/{agent.id}/passages/{passage.id}/delete/", **HX)
    assert response["HX-Trigger"] == '{"engram:passages": {}}'


@pytest.mark.parametrize("preset", ["companion", "assistant"])
def test_the_ready_made_presets_come_with_the_archival_tools(alice_client: Client, preset: str) -> None:
    alice_client.post("/agents/new/", {"name": f"P {preset}", "preset": preset, "model": ""})
    tools = set(Agent.objects.get(name=f"P {preset}").tools.values_list("name", flat=True))
    assert {"archival_memory_insert", "archival_memory_search"} <= tools


def test_an_outsider_gets_404_for_the_edit_form_and_the_conflict_save(charlie: Any, agent: Agent) -> None:
    outsider = Client()
    outsider.force_login(charlie)
    block = agent.blocks.get(label="human")
    url = f"/agents/{agent.id}/blocks/{block.id}/"
    assert outsider.get(url + "?edit=1", **HX).status_code == 404
    assert outsider.post(url, {"value": "x", "limit": 10, "base_revision": str(uuid.uuid4())}, **HX).status_code == 404
    assert outsider.get("/agents/new/").status_code == 200  # their own list, nothing of Alice's
    assert "Ada" not in outsider.get("/agents/new/").content.decode()
