import shutil
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from agents.models import Agent, Message, Run, RunStatus, Step
from agents.services.agents import agent_create
from agents.services.messages import message_update
from memory.models import Block, BlockRevision, Passage
from memory.services.blocks import block_create, block_update
from memory.services.passages import passage_insert
from tests import factories
from tests.ade.test_views_fixes import settings_data
from tests.fakes.llm_server import FakeLLM

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def human(agent: Agent) -> Block:
    return agent.blocks.get(label="human")


@pytest.fixture
def make_step(alice: Any, fake_llm: FakeLLM) -> Callable[..., Step]:
    """One real run of the agent through the loop; returns its only step, failed by a provider error if `fail`.

    The user message says "exact-request-marker" and is edited afterwards, so the marker is left only in the
    request the step stored: a page that shows it shows the exact request, not the current context."""

    def make(agent: Agent, *, fail: bool = False) -> Step:
        if fail:
            fake_llm.error(400)
        else:
            fake_llm.reply("hi")
        run = factories.send(alice, agent, "exact-request-marker")
        message_update(message=Message.objects.get(run=run, role="user"), message_type="user_message", content="sent")
        return Step.objects.get(run=run)

    return make


def test_it_lists_searches_and_filters_agents(alice_client: Client, agent: Agent, alice: Any, charlie: Any) -> None:
    agent_create(actor=alice, name="Zed", model="openai/gpt-4o-mini")
    agent_create(actor=charlie, name="Outsider-agent", model="openai/gpt-4o-mini")
    page = alice_client.get("/").content.decode()
    assert "Ada" in page and "Zed" in page and "Outsider-agent" not in page
    found = alice_client.get("/?q=ad", **HX).content.decode()
    assert "Ada" in found and "Zed" not in found and "<html" not in found
    tagged = alice_client.get("/?tag=support").content.decode()
    assert "Ada" in tagged and "Zed" not in tagged


@pytest.mark.parametrize("preset,agent_type", [("blank", "v1"), ("companion", "memgpt"), ("assistant", "v1")])
def test_it_creates_agents_from_presets(alice_client: Client, alice: Any, preset: str, agent_type: str) -> None:
    response = alice_client.post("/agents/new/", {"name": f"New {preset}", "preset": preset, "model": ""})
    created = Agent.objects.get(name=f"New {preset}")
    assert response.status_code == 302 and response["Location"] == f"/agents/{created.id}/"
    assert created.agent_type == agent_type
    assert created.created_by == alice


def test_a_bad_model_handle_is_shown_on_the_form(alice_client: Client) -> None:
    response = alice_client.post("/agents/new/", {"name": "X", "preset": "blank", "model": "nonsense"})
    assert response.status_code == 422
    assert "provider/model" in response.content.decode()


def test_a_teammate_opens_every_panel(bob: Any, agent: Agent) -> None:
    client = Client()
    client.force_login(bob)
    for panel in ["", "memory/", "archival/", "recall/?q=x", "context/", "runs/", "tools/", "settings/"]:
        response = client.get(f"/agents/{agent.id}/{panel}")
        assert response.status_code == 200, panel
        assert 'ws-connect="/ws/agents/' in response.content.decode()
        partial = client.get(f"/agents/{agent.id}/{panel}", **HX).content.decode()
        assert 'id="panel"' in partial and "<html" not in partial


OUTSIDER_GETS = [
    "{a}/",
    "{a}/memory/",
    "{a}/archival/",
    "{a}/recall/",
    "{a}/context/",
    "{a}/runs/",
    "{a}/tools/",
    "{a}/settings/",
    "{a}/messages/?since=0",
    "{a}/run-status/",
    "{a}/blocks/{b}/",
    "{a}/blocks/{b}/history/",
    "{a}/settings/embedding-job/",
    "{a}/runs/{r}/steps/",
    "{a}/context/?step={s}",
]
OUTSIDER_POSTS = [
    "{a}/messages/",
    "{a}/settings/",
    "{a}/blocks/{b}/",
    "{a}/blocks/{b}/detach/",
    "{a}/blocks/attach/",
    "{a}/passages/",
    "{a}/tools/attach/",
    "{a}/runs/{r}/cancel/",
    "{a}/messages/reset/",
    "{a}/delete/",
    "{a}/passages/{p}/delete/",
    "{a}/tools/{t}/detach/",
    "{a}/tools/{t}/approval/",
    "{a}/approvals/",
    "{a}/blocks/{b}/revisions/{v}/revert/",
]


def test_an_outsider_gets_404_everywhere(charlie_client: Client, agent: Agent, make_step: Any) -> None:
    step = make_step(agent)
    block_update(block=human(agent), agent_id=agent.id, source="tool", value="Name: Alice!")
    ids = {
        "a": f"/agents/{agent.id}",
        "b": human(agent).id,
        "r": step.run_id,
        "s": step.id,
        "p": passage_insert(agent=agent, text="secret").id,
        "t": agent.tools.first().id,
        "v": BlockRevision.objects.filter(block=human(agent)).first().id,
    }
    for pattern in OUTSIDER_GETS:
        url = pattern.format(**ids)
        assert charlie_client.get(url).status_code == 404, url
        assert charlie_client.get(url, **HX).status_code == 404, url
    for pattern in OUTSIDER_POSTS:
        url = pattern.format(**ids)
        assert charlie_client.post(url, {"text": "x", "value": "x", "name": "x"}).status_code == 404, url
    assert human(agent).value == "Name: Alice!"
    assert Run.objects.filter(agent=agent).count() == 1
    assert Agent.objects.filter(pk=agent.pk).exists() and agent.passages.count() == 1
    agent.refresh_from_db()
    assert not [r for r in agent.tool_rules if r.get("type") == "requires_approval"]


def test_an_outsider_cannot_reach_a_block_through_their_own_agent(
    charlie_client: Client, charlie: Any, agent: Agent
) -> None:
    theirs = agent_create(actor=charlie, name="Theirs", model="openai/gpt-4o-mini")
    assert charlie_client.get(f"/agents/{theirs.id}/blocks/{human(agent).id}/").status_code == 404
    assert charlie_client.post(f"/agents/{theirs.id}/blocks/attach/", {"block": human(agent).id}).status_code == 404


def test_sending_a_message_creates_a_run(alice_client: Client, agent: Agent) -> None:
    response = alice_client.post(f"/agents/{agent.id}/messages/", {"text": "hello there"}, **HX)
    assert response.status_code == 200
    assert response["HX-Trigger"]
    run = Run.objects.get(agent=agent)
    assert run.status == RunStatus.QUEUED
    assert Message.objects.filter(run=run, role="user", text="hello there").exists()
    tail = alice_client.get(f"/agents/{agent.id}/messages/?since=0", **HX).content.decode()
    assert "hello there" in tail
    banner = alice_client.get(f"/agents/{agent.id}/run-status/", **HX).content.decode()
    assert "Cancel" in banner


def test_a_blank_message_is_refused(alice_client: Client, agent: Agent) -> None:
    response = alice_client.post(f"/agents/{agent.id}/messages/", {"text": "   "}, **HX)
    assert "Write a message first" in response.content.decode()
    assert not Run.objects.exists()


def test_cancelling_a_run(alice_client: Client, agent: Agent) -> None:
    alice_client.post(f"/agents/{agent.id}/messages/", {"text": "hi"}, **HX)
    run = Run.objects.get(agent=agent)
    response = alice_client.post(f"/agents/{agent.id}/runs/{run.id}/cancel/", **HX)
    assert response.status_code == 200
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


def test_editing_a_block_records_a_revision_and_enforces_the_limit(alice_client: Client, agent: Agent) -> None:
    block = human(agent)
    url = f"/agents/{agent.id}/blocks/{block.id}/"
    assert "textarea" in alice_client.get(url + "?edit=1", **HX).content.decode()
    response = alice_client.post(url, {"value": "Name: Alice\nLikes: tea", "limit": 200}, **HX)
    assert "Likes: tea" in response.content.decode()
    block.refresh_from_db()
    assert block.value == "Name: Alice\nLikes: tea"
    revision = BlockRevision.objects.get(block=block)
    assert revision.source == "ade"
    too_long = alice_client.post(url, {"value": "x" * 201, "limit": 200}, **HX).content.decode()
    assert "Exceeds 200 character limit" in too_long
    block.refresh_from_db()
    assert block.value == "Name: Alice\nLikes: tea"
    alice_client.post(url, {"value": "x" * 201, "limit": 300}, **HX)
    block.refresh_from_db()
    assert (len(block.value), block.limit) == (201, 300)


def test_history_shows_a_diff_and_revert_restores(alice_client: Client, alice: Any, agent: Agent) -> None:
    block = human(agent)
    block_update(block=block, agent_id=agent.id, source="tool", value="Name: Alice\nPet: <cat>")
    history = alice_client.get(f"/agents/{agent.id}/blocks/{block.id}/history/", **HX).content.decode()
    assert "<ins>" in history and "&lt;cat&gt;" in history
    revision = BlockRevision.objects.get(block=block)
    response = alice_client.post(f"/agents/{agent.id}/blocks/{block.id}/revisions/{revision.id}/revert/", **HX)
    assert response.status_code == 200
    block.refresh_from_db()
    assert block.value == "Name: Alice"


def test_a_revision_of_another_block_is_a_404(alice_client: Client, alice: Any, agent: Agent) -> None:
    other = block_create(actor=alice, label="notes", value="a")
    block_update(block=other, actor=alice, value="b")
    revision = BlockRevision.objects.get(block=other)
    url = f"/agents/{agent.id}/blocks/{human(agent).id}/revisions/{revision.id}/revert/"
    assert alice_client.post(url).status_code == 404


def test_attach_and_detach_a_shared_block(alice_client: Client, alice: Any, agent: Agent) -> None:
    shared = block_create(actor=alice, label="team", value="We ship on Fridays.")
    panel = alice_client.post(f"/agents/{agent.id}/blocks/attach/", {"block": shared.id}, **HX).content.decode()
    assert "We ship on Fridays." in panel
    assert agent.blocks.filter(pk=shared.pk).exists()
    alice_client.post(f"/agents/{agent.id}/blocks/{shared.id}/detach/", **HX)
    assert not agent.blocks.filter(pk=shared.pk).exists()
    assert Block.objects.filter(pk=shared.pk).exists()


def test_archival_insert_search_page_and_delete(alice_client: Client, alice: Any, agent: Agent) -> None:
    url = f"/agents/{agent.id}/archival/"
    response = alice_client.post(
        f"/agents/{agent.id}/passages/", {"text": "The launch is in March", "tags": "plans, dates"}, **HX
    )
    assert "Passage inserted" in response.content.decode()
    passage = Passage.objects.get(agent=agent)
    assert passage.tags == ["dates", "plans"]
    for i in range(25):
        passage_insert(agent=agent, text=f"filler {i}")
    assert "Older" in alice_client.get(url, **HX).content.decode()
    assert "filler" in alice_client.get(url + "?page=2", **HX).content.decode()
    found = alice_client.get(url + "?q=launch&mode=text&tags=plans", **HX).content.decode()
    assert "The launch is in March" in found and "filler" not in found
    assert "Nothing found" in alice_client.get(url + "?q=launch&tags=nope", **HX).content.decode()
    alice_client.post(f"/agents/{agent.id}/passages/{passage.id}/delete/", **HX)
    assert not Passage.objects.filter(pk=passage.pk).exists()


def test_recall_search_with_role_filter(alice_client: Client, alice: Any, agent: Agent, fake_llm: FakeLLM) -> None:
    fake_llm.reply("Tom the cat!")
    factories.send(alice, agent, "my cat is Tom")
    url = f"/agents/{agent.id}/recall/"
    both = alice_client.get(url + "?q=Tom", **HX).content.decode()
    assert "my cat is Tom" in both and "Tom the cat!" in both
    users = alice_client.get(url + "?q=Tom&roles=user", **HX).content.decode()
    assert "my cat is Tom" in users and "Tom the cat!" not in users


def test_context_panel_shows_breakdown_and_the_exact_request(
    alice_client: Client, agent: Agent, make_step: Any
) -> None:
    step = make_step(agent)
    page = alice_client.get(f"/agents/{agent.id}/context/", **HX).content.decode()
    for section in ["system", "memory blocks", "summary", "messages", "tool schemas"]:
        assert section in page
    assert "exact-request-marker" in page
    assert (
        "exact-request-marker" in alice_client.get(f"/agents/{agent.id}/context/?step={step.id}", **HX).content.decode()
    )
    assert alice_client.get(f"/agents/{agent.id}/context/?step={uuid.uuid4()}", **HX).status_code == 404


def test_runs_panel_filters_failures_and_shows_steps(alice_client: Client, agent: Agent, make_step: Any) -> None:
    ok = make_step(agent)
    bad = make_step(agent, fail=True)
    all_runs = alice_client.get(f"/agents/{agent.id}/runs/", **HX).content.decode()
    assert str(ok.run_id) in all_runs and str(bad.run_id) in all_runs
    failures = alice_client.get(f"/agents/{agent.id}/runs/?failed=1", **HX).content.decode()
    assert str(bad.run_id) in failures and str(ok.run_id) not in failures
    steps = alice_client.get(f"/agents/{agent.id}/runs/{bad.run_id}/steps/", **HX).content.decode()
    assert bad.error.startswith("the model provider returned 400")  # what clients see of a provider error
    assert bad.error in steps and "exact-request-marker" in steps


def test_tools_attach_and_detach(alice_client: Client, agent: Agent) -> None:
    from agents.selectors import tool_list

    attached = list(agent.tools.all())
    assert attached
    page = alice_client.get(f"/agents/{agent.id}/tools/", **HX).content.decode()
    assert attached[0].name in page and "parameters" in page
    tool = attached[0]
    alice_client.post(f"/agents/{agent.id}/tools/{tool.id}/detach/", **HX)
    assert not agent.tools.filter(pk=tool.pk).exists()
    alice_client.post(f"/agents/{agent.id}/tools/attach/", {"tool": tool.id}, **HX)
    assert agent.tools.filter(pk=tool.pk).exists()
    assert tool_list  # the panel lists the organization's tools and the built-ins


def test_settings_update(alice_client: Client, agent: Agent) -> None:
    data = {
        "name": "Ada II",
        "agent_type": agent.agent_type,
        "model": "openai/gpt-4o",
        "embedding": "local/all-minilm-l6-v2",
        "context_window_limit": 16000,
        "system": "Be brief.",
        "tags": "support, vip",
    }
    response = alice_client.post(f"/agents/{agent.id}/settings/", data, **HX)
    assert "Saved." in response.content.decode()
    assert sorted(agent.tag_rows.values_list("tag", flat=True)) == ["support", "vip"]
    assert 'value="support, vip"' in response.content.decode()
    agent.refresh_from_db()
    assert (agent.name, agent.model, agent.context_window_limit, agent.system) == (
        "Ada II",
        "openai/gpt-4o",
        16000,
        "Be brief.",
    )
    bad = alice_client.post(f"/agents/{agent.id}/settings/", {**data, "model": "nope"}, **HX).content.decode()
    assert "provider/model" in bad


def test_settings_edit_tool_secrets_without_showing_them(alice_client: Client, agent: Agent) -> None:
    from agents.tools.secrets import agent_secrets

    data = settings_data(agent, secrets="WEATHER_KEY=abc-123\nUNITS=metric\n")
    page = alice_client.post(f"/agents/{agent.id}/settings/", data, **HX).content.decode()
    assert "Saved." in page
    assert agent_secrets(agent=agent) == {"UNITS": "metric", "WEATHER_KEY": "abc-123"}
    assert "abc-123" not in page and "UNITS=********" in page  # stored values are never rendered
    # A masked line keeps its value, a changed one replaces it, a removed one is deleted.
    page = alice_client.post(
        f"/agents/{agent.id}/settings/", {**data, "secrets": "WEATHER_KEY=********\nNEW_ONE=x"}, **HX
    ).content.decode()
    assert agent_secrets(agent=agent) == {"NEW_ONE": "x", "WEATHER_KEY": "abc-123"}
    for bad, reason in [("no equals sign", "line 1: write NAME=value"), ("9LIVES=x", "not an environment variable")]:
        page = alice_client.post(f"/agents/{agent.id}/settings/", {**data, "secrets": bad}, **HX).content.decode()
        assert reason in page and "Saved." not in page
    assert agent_secrets(agent=agent) == {"NEW_ONE": "x", "WEATHER_KEY": "abc-123"}


def test_settings_switch_the_agent_type_and_its_base_tools(alice_client: Client, agent: Agent) -> None:
    from agents.prompts import default_system

    agent.refresh_from_db()
    data = settings_data(agent, agent_type="memgpt")
    was_default = agent.system == default_system(agent.agent_type)
    assert "Saved." in alice_client.post(f"/agents/{agent.id}/settings/", data, **HX).content.decode()
    agent.refresh_from_db()
    names = set(agent.tools.values_list("name", flat=True))
    assert agent.agent_type == "memgpt"
    assert {"send_message", "core_memory_append", "core_memory_replace"} <= names
    if was_default:
        assert agent.system == default_system("memgpt")

    alice_client.post(f"/agents/{agent.id}/settings/", {**data, "agent_type": "v1", "system": agent.system}, **HX)
    agent.refresh_from_db()
    assert agent.agent_type == "v1"
    assert "send_message" not in set(agent.tools.values_list("name", flat=True))
    bad = alice_client.post(f"/agents/{agent.id}/settings/", {**data, "agent_type": "robot"}, **HX)
    assert "robot" in bad.content.decode()
    agent.refresh_from_db()
    assert agent.agent_type == "v1"


def test_the_agent_page_pages_a_long_history_in_few_queries(
    alice_client: Client, alice: Any, agent: Agent, fake_llm: FakeLLM, django_assert_max_num_queries: Any
) -> None:
    for turn in range(60):  # 120 messages: "message 0" (user), "message 1" (reply), ...
        fake_llm.reply(f"message {2 * turn + 1}")
        factories.send(alice, agent, f"message {2 * turn}")
    with django_assert_max_num_queries(14):
        page = alice_client.get(f"/agents/{agent.id}/").content.decode()
    assert "message 119" in page and "message 50" not in page
    assert "Load earlier messages" in page
    older = Message.objects.get(agent=agent, text="message 80").seq
    earlier = alice_client.get(f"/agents/{agent.id}/messages/?before={older}", **HX).content.decode()
    assert "message 79" in earlier and "message 80" not in earlier


def test_dashboard_shows_stats_and_charts(alice_client: Client, agent: Agent, charlie: Any, make_step: Any) -> None:
    make_step(agent)
    make_step(agent, fail=True)
    page = alice_client.get("/dashboard/").content.decode()
    assert "<svg" in page and "Ada" in page
    assert "50.0%" in page  # one of two steps failed
    assert 'ws-connect="/ws/organization/"' in page and "every 2s" not in page  # pushed, not polled
    active = alice_client.get("/dashboard/?part=active", **HX).content.decode()
    assert "No run in progress" in active
    assert '<strong id="active-count" hx-swap-oob="true">0</strong>' in active  # the count at the top follows
    other = Client()
    other.force_login(charlie)
    assert "Ada" not in other.get("/dashboard/").content.decode()


def test_dashboard_says_which_isolation_custom_tools_get(alice_client: Client, settings: Any) -> None:
    assert shutil.which("bwrap"), "this test needs bubblewrap: apt-get install bubblewrap (make test does)"
    page = alice_client.get("/dashboard/").content.decode()
    assert '<p id="tool-sandbox" class="small muted">Custom tools: sandboxed (bubblewrap)</p>' in page
    settings.ENGRAM_BWRAP = "/nonexistent/bwrap"
    page = alice_client.get("/dashboard/").content.decode()
    assert (
        '<p id="tool-sandbox" class="small error">Custom tools: disabled: bubblewrap (/nonexistent/bwrap) is not '
        "installed: install Debian&#x27;s bubblewrap package (apt-get install bubblewrap)"
    ) in page


def test_reset_and_delete_from_settings(
    alice_client: Client, alice: Any, agent: Agent, charlie_client: Client, fake_llm: FakeLLM
) -> None:
    fake_llm.reply("hello")
    factories.send(alice, agent, "hi")
    assert charlie_client.post(f"/agents/{agent.id}/messages/reset/").status_code == 404
    assert charlie_client.post(f"/agents/{agent.id}/delete/").status_code == 404
    response = alice_client.post(f"/agents/{agent.id}/messages/reset/", **HX)
    assert "2 messages left the context window" in response.content.decode()
    assert not agent.messages.filter(in_context=True).exists()
    assert "recall only" in alice_client.get(f"/agents/{agent.id}/messages/?since=0", **HX).content.decode()
    response = alice_client.post(f"/agents/{agent.id}/delete/", **HX)
    assert response["HX-Redirect"] == "/"
    assert not Agent.objects.filter(pk=agent.pk).exists()


def test_staff_browse_agents_and_memory_in_the_admin(client: Client, org_a: Any, agent: Agent, make_step: Any) -> None:
    from accounts.services import user_create

    staff = user_create(username="root", password="root-password", organization=org_a, is_staff=True)
    client.force_login(staff)
    make_step(agent)
    passage_insert(agent=agent, text="a fact")
    for model in ["agent", "run", "step", "message", "tool"]:
        assert client.get(f"/admin/agents/{model}/").status_code == 200, model
    for model in ["block", "blockrevision", "passage"]:
        assert client.get(f"/admin/memory/{model}/").status_code == 200, model
    assert client.get(f"/admin/agents/agent/{agent.id}/change/").status_code == 200
    assert client.get("/admin/agents/agent/add/").status_code == 403


def test_the_chat_marks_failed_and_cancelled_runs(alice_client: Client, alice: Any, agent: Agent) -> None:
    from agents.services.runs import run_cancel, run_create

    run = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "please wait"}])
    run_cancel(run=run)
    Message.objects.filter(run=run).update(seq=999)  # as if it had started
    tail = alice_client.get(f"/agents/{agent.id}/messages/?since=0", **HX).content.decode()
    assert "please wait" in tail and "Run cancelled" in tail


def test_runs_are_paged(alice_client: Client, agent: Agent, make_step: Any) -> None:
    for _ in range(27):
        make_step(agent)
    first = alice_client.get(f"/agents/{agent.id}/runs/", **HX).content.decode()
    assert first.count('class="status completed"') == 25 and "Older" in first
    second = alice_client.get(f"/agents/{agent.id}/runs/?page=2", **HX).content.decode()
    assert second.count('class="status completed"') == 2 and "Newer" in second


@pytest.mark.parametrize("page", ["99999999999999999999", "9" * 5000, "-3", "x"])
def test_an_enormous_or_bad_page_number_is_an_empty_or_first_page_not_a_500(
    alice_client: Client, agent: Agent, page: str, make_step: Any
) -> None:
    make_step(agent)
    for panel in ("runs/", "recall/?q=x&"):
        url = f"/agents/{agent.id}/{panel}{'&' if '?' in panel else '?'}page={page}".replace("&&", "&")
        response = alice_client.get(url, **HX)
        assert response.status_code == 200, (url, response.status_code)
    # The archival panel's filters are a form: a page it cannot serve is a 422 naming the field, shown in place.
    archival = alice_client.get(f"/agents/{agent.id}/archival/?page={page}", **HX)
    assert archival.status_code == 422 and '<p class="error" role="alert">page: ' in archival.content.decode()
    runs = alice_client.get(f"/agents/{agent.id}/runs/?page={page}", **HX).content.decode()
    assert runs.count('class="status completed"') == (
        0 if page == "99999999999999999999" else 1
    )  # clamped, or unreadable: page 1


def test_changing_the_embedding_model_starts_a_reembed_with_progress(
    alice_client: Client, agent: Agent, fake_llm: FakeLLM
) -> None:
    passage_insert(agent=agent, text="a fact")  # the new model is checked first: the fake LLM serves embeddings
    data = settings_data(agent, embedding="openai/text-embedding-3-small")
    page = alice_client.post(f"/agents/{agent.id}/settings/", data, **HX).content.decode()
    assert "Re-embedding with" in page and 'hx-trigger="every 1s"' in page
    progress = alice_client.get(f"/agents/{agent.id}/settings/embedding-job/", **HX).content.decode()
    assert "of 1 passages and messages" in progress


def test_a_new_block_is_created_and_attached_or_not_at_all(alice_client: Client, agent: Agent) -> None:
    url = f"/agents/{agent.id}/blocks/new/"
    panel = alice_client.post(url, {"label": "project", "value": "Falcon", "limit": 100}, **HX).content.decode()
    assert "Falcon" in panel
    assert agent.blocks.get(label="project").limit == 100
    clash = alice_client.post(url, {"label": "human", "value": "dup", "limit": 100}, **HX).content.decode()
    assert "already has a block labelled" in clash
    assert not Block.objects.filter(value="dup").exists()


def test_the_approval_toggle_and_a_refused_answer(
    alice_client: Client, agent: Agent, fake_llm: FakeLLM, alice: Any
) -> None:
    tool = agent.tools.get(name="memory_insert")
    response = alice_client.post(f"/agents/{agent.id}/tools/{tool.id}/approval/", **HX)
    assert response.status_code == 200 and b"memory_insert requires approval" in response.content
    agent.refresh_from_db()
    assert {"type": "requires_approval", "tool_name": "memory_insert"} in agent.tool_rules
    # Nothing waits: the answer is refused with the reason in a notice, and no run starts.
    response = alice_client.post(f"/agents/{agent.id}/approvals/", {"tool_call_id": "call_1", "decision": "approve"})
    assert response.status_code == 200
    assert "no tool call is waiting for approval" in response["HX-Trigger"]
    assert not Run.objects.filter(agent=agent).exists()
    alice_client.post(f"/agents/{agent.id}/tools/{tool.id}/approval/", **HX)
    agent.refresh_from_db()
    assert not [r for r in agent.tool_rules if r.get("type") == "requires_approval"]
