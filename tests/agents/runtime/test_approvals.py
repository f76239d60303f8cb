"""Human approvals and client-side tools in the loop: a held call stops the run with requires_approval, the next
send answers it (approve, deny with a reason, or a client's result), unanswered calls expire."""

import datetime as dt
import json

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from agents.models import Message, MessageRole, Run, RunStatus
from agents.runtime.loop import run_execute
from agents.services.approvals import PendingApproval, agent_tool_approval_set, approvals_expire
from agents.services.conversations import conversation_create
from agents.services.runs import run_create
from api import wire
from memory.models import Block

pytestmark = pytest.mark.django_db

EDIT = {"label": "human", "new_string": "Has a cat named Tom."}
SHELL = {
    "name": "run_shell",
    "description": "Run a shell command on the user's machine.",
    "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
}


def answer(alice, agent, *approvals, **kwargs):
    run = run_create(actor=alice, agent=agent, messages=[{"type": "approval", "approvals": list(approvals)}], **kwargs)
    run_execute(run_id=run.id, token="test")
    return Run.objects.get(pk=run.pk)


@pytest.fixture
def guarded(make_agent):
    agent = make_agent()
    agent_tool_approval_set(agent=agent, tool_name="memory_insert", requires_approval=True)
    agent.refresh_from_db()
    return agent


def held_call(fake_llm, send, agent):
    fake_llm.tool_call("memory_insert", EDIT, id="call_1")
    run = send(agent, "My cat is called Tom.")
    assert (run.status, run.stop_reason) == (RunStatus.COMPLETED, "requires_approval")
    assert [c["id"] for c in run.pending_calls] == ["call_1"] and run.approval_due > timezone.now()
    return run


def test_a_call_that_requires_approval_stops_the_run_and_runs_once_approved(alice, fake_llm, send, guarded):
    run = held_call(fake_llm, send, guarded)
    assert Block.objects.get(agents=guarded, label="human").value == ""  # not run yet
    shown = wire.messages_to_wire(Message.objects.filter(run=run).order_by("seq"))
    assert [m["message_type"] for m in shown] == ["user_message", "approval_request_message"]
    assert shown[1]["tool_call"]["name"] == "memory_insert" and shown[1]["tool_calls"][0]["tool_call_id"] == "call_1"

    fake_llm.reply("Noted.")
    done = answer(alice, guarded, {"type": "approval", "tool_call_id": "call_1", "approve": True})
    assert (done.status, done.stop_reason) == (RunStatus.COMPLETED, "end_turn")
    assert Block.objects.get(agents=guarded, label="human").value == "Has a cat named Tom."
    assert Run.objects.get(pk=run.pk).approval_due is None
    # The model saw its call and the result, never the approval itself nor Engram's mark on the call; its
    # memory as the approved tool left it.
    sent = fake_llm.last_chat()["messages"]
    assert "Has a cat named Tom." in sent[0]["content"]
    assert [m["role"] for m in sent[-3:]] == ["user", "assistant", "tool"]
    assert sent[-2]["tool_calls"][0] == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "memory_insert", "arguments": json.dumps(EDIT)},
    }
    history = wire.messages_to_wire(Message.objects.filter(agent=guarded).order_by("seq"))
    assert [m["message_type"] for m in history][-4:] == [
        "approval_request_message",
        "approval_response_message",
        "tool_return_message",
        "assistant_message",
    ]
    response = history[-3]
    assert (response["approve"], response["approval_request_id"]) == (True, "call_1")


def test_a_denial_reaches_the_model_as_the_tool_result(alice, fake_llm, send, guarded):
    held_call(fake_llm, send, guarded)
    fake_llm.reply("All right, I will not.")
    answer(alice, guarded, {"type": "approval", "tool_call_id": "call_1", "approve": False, "reason": "not now"})
    assert Block.objects.get(agents=guarded, label="human").value == ""
    result = Message.objects.get(agent=guarded, role=MessageRole.TOOL)
    assert (result.is_err, result.text) == (True, "Error: request to call tool denied. User reason: not now")
    assert fake_llm.last_chat()["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "Error: request to call tool denied. User reason: not now",
    }


def test_other_input_waits_for_the_answer_and_bad_answers_change_nothing(alice, fake_llm, send, guarded):
    run = held_call(fake_llm, send, guarded)
    count = Message.objects.filter(agent=guarded).count()
    with pytest.raises(PendingApproval):
        run_create(actor=alice, agent=guarded, messages=[{"role": "user", "content": "hello?"}])
    for bad, reason in [
        ({"type": "approval", "tool_call_id": "call_9", "approve": True}, "call_9 is not waiting for approval"),
        ({"type": "approval", "tool_call_id": "call_1"}, "approve must be true or false"),
        ({"type": "tool", "tool_call_id": "call_1", "status": "maybe", "tool_return": "x"}, "status must be"),
    ]:
        with pytest.raises(ValidationError, match=reason):
            run_create(actor=alice, agent=guarded, messages=[{"type": "approval", "approvals": [bad]}])
    assert Message.objects.filter(agent=guarded).count() == count
    assert Run.objects.filter(agent=guarded).count() == 1 and Run.objects.get(pk=run.pk).approval_due is not None

    fake_llm.reply("Noted.")
    answer(alice, guarded, {"type": "approval", "tool_call_id": "call_1", "approve": True})
    with pytest.raises(ValidationError, match="call_1 has already been answered"):
        run_create(
            actor=alice,
            agent=guarded,
            messages=[{"type": "approval", "approvals": [{"tool_call_id": "call_1", "approve": True}]}],
        )
    with pytest.raises(ValidationError, match="no tool call is waiting for approval"):
        run_create(
            actor=alice,
            agent=guarded,
            messages=[{"type": "approval", "approvals": [{"tool_call_id": "call_7", "approve": True}]}],
        )


def test_unanswered_calls_expire_denied_and_the_agent_is_free_again(alice, fake_llm, send, guarded):
    run = held_call(fake_llm, send, guarded)
    # Time passes: the due time is moved to the past (what ENGRAM_APPROVAL_TTL seconds of waiting would do).
    Run.objects.filter(pk=run.pk).update(approval_due=timezone.now() - dt.timedelta(seconds=1))
    assert approvals_expire() == 1
    run.refresh_from_db()
    assert run.approval_due is None and "expired" in run.error
    result = Message.objects.get(agent=guarded, role=MessageRole.TOOL)
    assert result.is_err and result.text.startswith("Error: request to call tool denied. User reason: the approval")
    fake_llm.reply("Hello again.")
    again = send(guarded, "Are you there?")
    assert again.status == RunStatus.COMPLETED
    assert approvals_expire() == 0


def test_an_expired_call_is_denied_when_the_next_message_arrives(alice, fake_llm, send, guarded):
    run = held_call(fake_llm, send, guarded)
    Run.objects.filter(pk=run.pk).update(approval_due=timezone.now() - dt.timedelta(seconds=1))
    fake_llm.reply("Hello again.")
    assert send(guarded, "Are you there?").status == RunStatus.COMPLETED
    assert Message.objects.get(agent=guarded, role=MessageRole.TOOL).is_err


def test_a_client_tool_is_offered_and_its_result_continues_the_run(alice, fake_llm, make_agent):
    agent = make_agent()
    fake_llm.tool_call("run_shell", {"command": "ls"}, id="call_sh")
    run = run_create(
        actor=alice,
        agent=agent,
        messages=[{"role": "user", "content": "list files"}],
        options={"client_tools": [SHELL]},
    )
    run_execute(run_id=run.id, token="test")
    run.refresh_from_db()
    assert run.stop_reason == "requires_approval" and run.pending_calls[0]["client"] is True
    offered = {t["function"]["name"] for t in fake_llm.last_chat()["tools"]}
    assert "run_shell" in offered and "memory_insert" in offered
    # A client tool cannot simply be approved: the client runs it and returns the result.
    with pytest.raises(ValidationError, match="client-side tool 'run_shell'"):
        run_create(
            actor=alice,
            agent=agent,
            messages=[{"type": "approval", "approvals": [{"tool_call_id": "call_sh", "approve": True}]}],
        )
    fake_llm.reply("You have two files.")
    tool_return = {"type": "tool", "tool_call_id": "call_sh", "status": "success", "tool_return": "a.txt\nb.txt"}
    run = run_create(
        actor=alice,
        agent=agent,
        messages=[{"type": "tool_return", "tool_returns": [tool_return]}],
        options={"client_tools": [SHELL]},
    )
    run_execute(run_id=run.id, token="test")
    run.refresh_from_db()
    assert run.stop_reason == "end_turn"
    assert fake_llm.last_chat()["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_sh",
        "content": "a.txt\nb.txt",
    }


@pytest.mark.parametrize(
    ("tools", "reason"),
    [
        ([{"name": "bad name!"}], "name must be"),
        ([{"name": "x", "parameters": {"type": "array"}}], "parameters must have type 'object'"),
        ([{"name": "x", "parameters": {"properties": {"a": 1}}}], "properties.a must be an object"),
        ([{"name": "x"}, {"name": "x"}], "given twice"),
        ("run_shell", "must be a list"),
    ],
)
def test_an_invalid_client_tool_is_refused_and_nothing_is_stored(alice, make_agent, tools, reason):
    agent = make_agent()
    with pytest.raises(ValidationError, match=reason):
        run_create(
            actor=alice, agent=agent, messages=[{"role": "user", "content": "hi"}], options={"client_tools": tools}
        )
    assert not Run.objects.filter(agent=agent).exists() and not Message.objects.filter(agent=agent).exists()


def test_input_queued_before_the_run_stopped_to_wait_fails_with_the_reason(alice, fake_llm, guarded):
    first = run_create(actor=alice, agent=guarded, messages=[{"role": "user", "content": "My cat is Tom."}])
    second = run_create(actor=alice, agent=guarded, messages=[{"role": "user", "content": "And my dog is Rex."}])
    fake_llm.tool_call("memory_insert", EDIT, id="call_1")
    run_execute(run_id=first.id, token="test")
    run_execute(run_id=second.id, token="test")
    second.refresh_from_db()
    assert (second.status, second.stop_reason) == (RunStatus.FAILED, "error")
    assert "waiting for approval of its call to memory_insert" in second.error
    assert Run.objects.get(pk=first.pk).approval_due is not None  # the held call still waits for its answer


def test_input_queued_in_a_held_conversation_fails_even_after_another_conversation_ends(alice, fake_llm, guarded):
    """Each conversation waits on its own: another conversation's run ending (the agent's last stop reason becomes
    end_turn) does not let input queued behind the held run through."""
    held, other = conversation_create(actor=alice, agent=guarded), conversation_create(actor=alice, agent=guarded)
    first = run_create(
        actor=alice, agent=guarded, messages=[{"role": "user", "content": "My cat is Tom."}], conversation=held
    )
    queued = run_create(
        actor=alice, agent=guarded, messages=[{"role": "user", "content": "And my dog is Rex."}], conversation=held
    )
    elsewhere = run_create(
        actor=alice, agent=guarded, messages=[{"role": "user", "content": "Hi."}], conversation=other
    )
    fake_llm.tool_call("memory_insert", EDIT, id="call_1")
    run_execute(run_id=first.id, token="test")
    fake_llm.reply("Hello.")
    run_execute(run_id=elsewhere.id, token="test")
    guarded.refresh_from_db()
    assert guarded.last_stop_reason == "end_turn"
    run_execute(run_id=queued.id, token="test")
    queued.refresh_from_db()
    assert (queued.status, queued.stop_reason) == (RunStatus.FAILED, "error")
    assert "waiting for approval of its call to memory_insert" in queued.error
    assert Run.objects.get(pk=first.pk).approval_due is not None
