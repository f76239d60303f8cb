"""Tool rules are enforced by the loop: what each request offers (tools, tool_choice), which calls run, and when
the run ends. Runs are driven by the scripted fake LLM and judged by the recorded requests and persisted rows."""

import pytest
from rest_framework.test import APIClient

from agents.models import Agent, Message, RunStatus
from agents.runtime.lifecycle import run_claim
from agents.runtime.loop import _step, run_execute
from agents.runtime.tool_rules import ToolRules
from agents.services.runs import run_create
from memory.models import Passage

pytestmark = pytest.mark.django_db

TOOLS = ["archival_memory_insert", "archival_memory_search"]
ALL = sorted(["conversation_search", "memory_insert", "memory_replace", *TOOLS])


def offered(request):
    return sorted(t["function"]["name"] for t in request.get("tools", []))


def forced(name):
    return {"type": "function", "function": {"name": name}}


def tool_messages(run):
    return [(m.name, m.is_err, m.text) for m in Message.objects.filter(run=run, role="tool").order_by("seq")]


def insert(text="a fact"):
    return ("archival_memory_insert", {"content": text})


def test_run_first_forces_the_tool_on_the_first_step_only(fake_llm, make_agent, send):
    agent = make_agent(tools=TOOLS, tool_rules=[{"type": "run_first", "tool_name": "archival_memory_search"}])
    fake_llm.tool_call("archival_memory_search", {"query": "cats"})
    fake_llm.reply("Nothing about cats yet.")
    run = send(agent, "What do you know about cats?")
    assert (run.status, run.stop_reason, run.step_count) == (RunStatus.COMPLETED, "end_turn", 2)
    first, second = fake_llm.chat_requests()
    assert offered(first) == ["archival_memory_search"]
    assert first["tool_choice"] == forced("archival_memory_search")
    assert offered(second) == ALL and second["tool_choice"] == "auto"


def test_a_call_the_rules_forbid_gets_a_tool_error_and_does_not_run(fake_llm, make_agent, send):
    agent = make_agent(tools=TOOLS, tool_rules=[{"type": "run_first", "tool_name": "archival_memory_search"}])
    fake_llm.tool_calls([insert("should not be stored")])  # ignores the forced tool_choice
    fake_llm.tool_call("archival_memory_search", {"query": "x"})
    fake_llm.reply("done")
    run = send(agent, "go")
    assert run.status == RunStatus.COMPLETED
    (name, is_err, text), second = tool_messages(run)
    assert (name, is_err) == ("archival_memory_insert", True)
    assert "tool rules do not allow calling 'archival_memory_insert'" in text
    assert "Allowed tools: archival_memory_search" in text
    assert not Passage.objects.filter(agent_id=agent.id).exists()
    assert second[:2] == ("archival_memory_search", False)
    # The rejected call did not satisfy run_first: the next step is still forced.
    assert fake_llm.chat_requests()[1]["tool_choice"] == forced("archival_memory_search")
    assert fake_llm.chat_requests()[2]["tool_choice"] == "auto"


def test_exit_loop_ends_the_run_after_the_tool(fake_llm, make_agent, send):
    agent = make_agent(tools=TOOLS, tool_rules=[{"type": "exit_loop", "tool_name": "archival_memory_insert"}])
    fake_llm.tool_calls([insert()])
    fake_llm.reply("should never be asked for")
    run = send(agent, "store it")
    assert (run.status, run.stop_reason, run.step_count) == (RunStatus.COMPLETED, "tool_rule", 1)
    assert len(fake_llm.chat_requests()) == 1 and fake_llm.pending() == 1
    assert Passage.objects.filter(agent_id=agent.id).count() == 1
    assert Agent.objects.get(pk=agent.pk).last_stop_reason == "tool_rule"


def test_continue_loop_keeps_a_memgpt_agent_stepping_without_a_heartbeat(fake_llm, make_agent, send):
    agent = make_agent(
        agent_type="memgpt_agent", tool_rules=[{"type": "continue_loop", "tool_name": "core_memory_append"}]
    )
    fake_llm.tool_call("core_memory_append", {"label": "human", "content": "Likes tea", "request_heartbeat": False})
    fake_llm.tool_call("send_message", {"message": "Noted."})
    run = send(agent, "I like tea")
    assert (run.status, run.stop_reason, run.step_count) == (RunStatus.COMPLETED, "end_turn", 2)
    assert len(fake_llm.chat_requests()) == 2


def test_constrain_child_tools_offers_only_the_children_after_the_tool(fake_llm, make_agent, send):
    rule = {
        "type": "constrain_child_tools",
        "tool_name": "archival_memory_insert",
        "children": ["archival_memory_search"],
    }
    agent = make_agent(tools=TOOLS, tool_rules=[rule])
    fake_llm.tool_calls([insert()])
    fake_llm.tool_calls([insert("again")])  # not a child: refused
    fake_llm.tool_call("archival_memory_search", {"query": "fact"})
    fake_llm.reply("done")
    run = send(agent, "go")
    assert run.status == RunStatus.COMPLETED
    requests = fake_llm.chat_requests()
    assert offered(requests[0]) == ALL
    assert offered(requests[1]) == ["archival_memory_search"] and requests[1]["tool_choice"] == "auto"
    assert offered(requests[2]) == ["archival_memory_search"]  # the refused call changed nothing
    assert offered(requests[3]) == ALL
    assert [(n, e) for n, e, _ in tool_messages(run)] == [
        ("archival_memory_insert", False),
        ("archival_memory_insert", True),
        ("archival_memory_search", False),
    ]
    assert Passage.objects.filter(agent_id=agent.id).count() == 1


def test_parent_last_tool_offers_the_children_only_right_after_the_parent(fake_llm, make_agent, send):
    rule = {"type": "parent_last_tool", "tool_name": "archival_memory_insert", "children": ["archival_memory_search"]}
    agent = make_agent(tools=TOOLS, tool_rules=[rule])
    fake_llm.tool_call("archival_memory_search", {"query": "x"})  # refused: the parent was not called last
    fake_llm.tool_calls([insert()])
    fake_llm.tool_call("archival_memory_search", {"query": "fact"})
    fake_llm.reply("done")
    run = send(agent, "go")
    requests = fake_llm.chat_requests()
    assert "archival_memory_search" not in offered(requests[0])
    assert "archival_memory_search" in offered(requests[2])
    assert "archival_memory_search" not in offered(requests[3])
    assert [(n, e) for n, e, _ in tool_messages(run)] == [
        ("archival_memory_search", True),
        ("archival_memory_insert", False),
        ("archival_memory_search", False),
    ]


def test_max_count_per_step_limits_the_calls_of_a_tool_in_a_run(fake_llm, make_agent, send):
    rule = {"type": "max_count_per_step", "tool_name": "archival_memory_insert", "max_count_limit": 2}
    agent = make_agent(tools=TOOLS, tool_rules=[rule])
    fake_llm.tool_calls([insert("one"), insert("two"), insert("three")])  # the third one in the same response
    fake_llm.reply("done")
    run = send(agent, "store three")
    assert run.status == RunStatus.COMPLETED
    assert [(n, e) for n, e, _ in tool_messages(run)] == [
        ("archival_memory_insert", False),
        ("archival_memory_insert", False),
        ("archival_memory_insert", True),
    ]
    assert sorted(Passage.objects.filter(agent_id=agent.id).values_list("text", flat=True)) == ["one", "two"]
    assert "archival_memory_insert" in offered(fake_llm.chat_requests()[0])
    assert "archival_memory_insert" not in offered(fake_llm.chat_requests()[1])


def test_required_before_exit_gets_one_more_step_with_the_tool_forced(fake_llm, make_agent, send):
    agent = make_agent(
        tools=TOOLS, tool_rules=[{"type": "required_before_exit", "tool_name": "archival_memory_insert"}]
    )
    fake_llm.reply("Done already!")  # tries to end the run
    fake_llm.tool_calls([insert("the summary")])
    fake_llm.reply("Stored and done.")
    run = send(agent, "summarize and store")
    assert (run.status, run.stop_reason, run.step_count) == (RunStatus.COMPLETED, "end_turn", 3)
    requests = fake_llm.chat_requests()
    assert requests[0]["tool_choice"] == "auto"
    assert requests[1]["tool_choice"] == forced("archival_memory_insert")
    assert requests[2]["tool_choice"] == "auto"
    assert Passage.objects.filter(agent_id=agent.id).count() == 1


def test_required_before_exit_is_bounded_by_max_steps(fake_llm, make_agent, send):
    agent = make_agent(
        tools=TOOLS, tool_rules=[{"type": "required_before_exit", "tool_name": "archival_memory_insert"}]
    )
    fake_llm.default = "I will not call it."
    run = send(agent, "go", max_steps=3)
    assert (run.status, run.stop_reason, run.step_count) == (RunStatus.COMPLETED, "max_steps", 3)


def test_conditional_picks_the_next_tool_from_the_output(fake_llm, make_agent, send, alice):
    from agents.services.tools import tool_create

    tool_create(
        actor=alice,
        source_code=(
            'def check(x: str) -> str:\n    """Check.\n\n    Args:\n        x: the answer\n    """\n    return x\n'
        ),
    )
    rule = {
        "type": "conditional",
        "tool_name": "check",
        "child_output_mapping": {"yes": "archival_memory_insert", "no": "archival_memory_search"},
        "default_child": "conversation_search",
    }
    agent = make_agent(tools=[*TOOLS, "check"], tool_rules=[rule])
    fake_llm.tool_call("check", {"x": "no"})
    fake_llm.tool_call("archival_memory_search", {"query": "q"})
    fake_llm.tool_call("check", {"x": "maybe"})
    fake_llm.reply("done")
    send(agent, "go")
    requests = fake_llm.chat_requests()
    assert offered(requests[1]) == ["archival_memory_search"]
    assert offered(requests[3]) == ["conversation_search"]


def test_the_history_of_a_resumed_run_comes_from_its_persisted_steps(fake_llm, make_agent, alice):
    rule = {
        "type": "constrain_child_tools",
        "tool_name": "archival_memory_insert",
        "children": ["archival_memory_search"],
    }
    agent = make_agent(
        tools=TOOLS,
        tool_rules=[rule, {"type": "max_count_per_step", "tool_name": "archival_memory_insert", "max_count_limit": 1}],
    )
    run = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "go"}])
    claimed = run_claim(run_id=run.id, token="t")
    fake_llm.tool_calls([insert()])
    # The first step is persisted, then the worker dies; the redelivered task resumes the run.
    assert not _step(agent, claimed, "t", 0, agent.model, first=True, rules=ToolRules.of(agent.tool_rules)).stop
    fake_llm.tool_call("archival_memory_search", {"query": "fact"})
    fake_llm.reply("done")
    run_execute(run_id=run.id, token="t")
    requests = fake_llm.chat_requests()
    assert offered(requests[1]) == ["archival_memory_search"]  # the child rule saw step 0's call
    assert "archival_memory_insert" not in offered(requests[2])  # and so did the count
    assert run.__class__.objects.get(pk=run.pk).status == RunStatus.COMPLETED


def test_a_resumed_run_still_forces_a_required_tool(fake_llm, make_agent, alice):
    agent = make_agent(
        tools=TOOLS, tool_rules=[{"type": "required_before_exit", "tool_name": "archival_memory_insert"}]
    )
    run = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "go"}])
    claimed = run_claim(run_id=run.id, token="t")
    fake_llm.reply("Done already!")
    assert not _step(agent, claimed, "t", 0, agent.model, first=True, rules=ToolRules.of(agent.tool_rules)).stop
    fake_llm.tool_calls([insert()])
    fake_llm.reply("done")
    run_execute(run_id=run.id, token="t")
    assert fake_llm.chat_requests()[1]["tool_choice"] == forced("archival_memory_insert")


def test_agents_without_rules_keep_the_plain_requests(fake_llm, make_agent, send):
    agent = make_agent(tools=TOOLS)
    fake_llm.tool_calls([insert()])
    fake_llm.reply("done")
    run = send(agent, "go")
    assert run.stop_reason == "end_turn"
    assert all(offered(r) == ALL and r["tool_choice"] == "auto" for r in fake_llm.chat_requests())


# -- API validation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ({"type": "sometimes", "tool_name": "x"}, "unknown type 'sometimes'"),
        ({"tool_name": "x"}, "unknown type None"),
        ({"type": "exit_loop"}, "'tool_name' is required"),
        ({"type": "exit_loop", "tool_name": ""}, "'tool_name' is required"),
        ({"type": "constrain_child_tools", "tool_name": "x"}, "'children' must be a non-empty list"),
        ({"type": "constrain_child_tools", "tool_name": "x", "children": "y"}, "'children' must be a non-empty list"),
        ({"type": "parent_last_tool", "tool_name": "x", "children": [1]}, "'children' must be a non-empty list"),
        ({"type": "max_count_per_step", "tool_name": "x", "max_count_limit": "2"}, "'max_count_limit' must be"),
        ({"type": "max_count_per_step", "tool_name": "x", "max_count_limit": 0}, "'max_count_limit' must be"),
        ({"type": "conditional", "tool_name": "x"}, "'child_output_mapping' must be"),
        ({"type": "conditional", "tool_name": "x", "child_output_mapping": {}, "default_child": 3}, "'default_child'"),
        ({"type": "exit_loop", "tool_name": "x", "children": ["y"]}, "unknown field(s) for a exit_loop rule: children"),
        ("exit_loop", "0: Expected a dictionary"),  # the serializer catches this one
    ],
)
def test_bad_tool_rules_are_rejected_naming_the_field(alice_api: APIClient, rule, reason) -> None:
    body = {"model": "openai/gpt-4o-mini", "tool_rules": [rule]}
    response = alice_api.post("/v1/agents/", body, format="json")
    assert response.status_code == 422, response.content
    detail = response.json()["detail"]
    assert detail.startswith("tool_rules: ") and reason in detail, detail
    assert not Agent.objects.exists()


def test_good_tool_rules_are_stored_and_returned(alice_api: APIClient) -> None:
    rules = [
        {"type": "run_first", "tool_name": "conversation_search"},
        {"type": "exit_loop", "tool_name": "memory_insert", "prompt_template": None},
        {"type": "constrain_child_tools", "tool_name": "conversation_search", "children": ["memory_insert"]},
        {"type": "max_count_per_step", "tool_name": "memory_insert", "max_count_limit": 2},
        {"type": "required_before_exit", "tool_name": "memory_insert"},
        {"type": "conditional", "tool_name": "x", "child_output_mapping": {"a": "y"}, "require_output_mapping": True},
    ]
    state = alice_api.post("/v1/agents/", {"model": "openai/gpt-4o-mini", "tool_rules": rules}, format="json").json()
    assert state["tool_rules"] == rules
    bad = alice_api.patch(
        f"/v1/agents/{state['id']}", {"tool_rules": [{"type": "nope", "tool_name": "x"}]}, format="json"
    )
    assert bad.status_code == 422 and "unknown type 'nope'" in bad.json()["detail"]
    assert alice_api.get(f"/v1/agents/{state['id']}").json()["tool_rules"] == rules
