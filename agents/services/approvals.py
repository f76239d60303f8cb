"""Human approvals and client-side tools: tool calls that wait for an answer from outside the server.

A run whose model calls a tool that requires approval (a `requires_approval` tool rule) or a client-side tool
(`client_tools` of the send) stops with `requires_approval`; its `pending_calls` and `approval_due` hold the
calls (agents.runtime.loop). The agent's next send answers them (`approval_input`, called by `run_create` in its
transaction): each call approved (the server runs it), denied with a reason (the model reads the denial as the
tool's result) or, for a client-side tool, given the result the client got. The answers are stored as one
`approval` message (history only) and handed to the new run, whose first step applies them
(agents.runtime.approvals). Until then the agent takes no other input (`PendingApproval`, a 409 in the API);
past `ENGRAM_APPROVAL_TTL` the calls are denied unanswered (`approvals_expire`) and the agent is free again."""

import datetime as dt
import re
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from agents.models import Agent, Message, MessageRole, Run, Tool, in_history
from agents.runtime import events
from agents.services.messages import MessageSpec, message_create_many
from agents.tools.validate import parameters_problem

JSON = dict[str, Any]
INPUT_TYPES = ("approval", "tool_return")
DENIED = "Error: request to call tool denied. User reason: {reason}"
_CLIENT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_CLIENT_TOOLS = 128


class PendingApproval(ValidationError):
    """A send that is not an approval while tool calls wait for one (Letta's 409 `PENDING_APPROVAL`)."""

    code = "PENDING_APPROVAL"

    def __init__(self, run: Run) -> None:
        names = ", ".join(sorted({str(c.get("name")) for c in run.pending_calls})) or "a tool"
        super().__init__(
            {
                "messages": f"the agent is waiting for approval of its call to {names}: send an approval "
                "(type 'approval') for each pending tool call first"
            }
        )


def denial_text(reason: str) -> str:
    return DENIED.format(reason=reason or "none given")


def client_tools_clean(raw: Any) -> list[JSON]:
    """Letta's `client_tools` ([{name, description?, parameters?}]) as OpenAI function schemas; ValidationError
    naming `client_tools` and the item otherwise."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValidationError({"client_tools": "must be a list of {name, description, parameters} objects"})
    if len(raw) > MAX_CLIENT_TOOLS:
        raise ValidationError({"client_tools": f"at most {MAX_CLIENT_TOOLS} client tools per request"})
    out: list[JSON] = []
    for index, tool in enumerate(raw):
        if not isinstance(tool, dict):
            raise ValidationError({"client_tools": f"item {index} must be an object"})
        unknown = set(tool) - {"name", "description", "parameters"}
        if unknown:
            raise ValidationError({"client_tools": f"item {index}: unknown field(s) {', '.join(sorted(unknown))}"})
        name = tool.get("name")
        if not isinstance(name, str) or not _CLIENT_NAME.fullmatch(name):
            raise ValidationError({"client_tools": f"item {index}: name must be 1 to 64 letters, digits, '_' or '-'"})
        if name in {t["name"] for t in out}:
            raise ValidationError({"client_tools": f"item {index}: the name {name!r} is given twice"})
        description = tool.get("description") or ""
        if not isinstance(description, str):
            raise ValidationError({"client_tools": f"item {index}: description must be a string"})
        parameters = tool.get("parameters")
        if parameters is None:
            parameters = {"type": "object", "properties": {}, "required": []}
        problem = parameters_problem(parameters)
        if problem:
            raise ValidationError({"client_tools": f"item {index}: parameters {problem}"})
        out.append({"name": name, "description": description, "parameters": parameters})
    return out


def pending_run(*, agent: Agent, conversation_id: uuid.UUID | None = None, lock: bool = False) -> Run | None:
    """The run of the agent's own history (or of its conversation `conversation_id`) whose tool calls wait for an
    answer, if any (expired ones included: see approvals_expire). Each conversation waits on its own."""
    runs = Run.objects.filter(in_history(conversation_id), agent=agent, approval_due__isnull=False)
    runs = runs.order_by("-position")
    if lock:
        runs = runs.select_for_update()
    return runs.first()


def run_hold(*, run: Run, calls: list[JSON]) -> None:
    """Record the calls a run stops for (the caller is in the transaction of the run's last step)."""
    run.pending_calls = calls
    run.approval_due = timezone.now() + dt.timedelta(seconds=settings.ENGRAM_APPROVAL_TTL)
    Run.objects.filter(pk=run.pk).update(pending_calls=run.pending_calls, approval_due=run.approval_due)


def run_refusal_while_held(*, agent: Agent, conversation_id: uuid.UUID | None = None) -> str:
    """Why a run that is no answer cannot start now (its input queued before the agent's last run stopped to wait
    for approval), or "" when it can (nothing waits, or the wait is over: the calls are denied first)."""
    run = pending_run(agent=agent, conversation_id=conversation_id)
    if run is None or run.approval_due is None:
        return ""
    if run.approval_due <= timezone.now():
        approvals_expire(agent_id=agent.id)
        return ""
    return str(PendingApproval(run).messages[0])


def _release(run: Run) -> bool:
    """Clear the run's pending calls; False when another answer (or the expiry) was first."""
    return bool(Run.objects.filter(pk=run.pk, approval_due__isnull=False).update(approval_due=None, pending_calls=[]))


def _answered(agent: Agent, call_id: str) -> bool:
    return Message.objects.filter(agent=agent, role=MessageRole.TOOL, tool_call_id=call_id).exists()


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: their text
        return "\n".join(str(p.get("text", "")) for p in value if isinstance(p, dict) and p.get("type") == "text")
    raise ValidationError({"messages": "tool_return must be a string or a list of content parts"})


def _lines(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError({"messages": f"{field} must be a list of strings"})
    return value


def _answers(messages: list[JSON], pending: list[JSON]) -> list[JSON]:
    """The approval input's answers, one per tool call: {tool_call_id, approve, reason} or {tool_call_id,
    tool_return, status, stdout, stderr} (Letta's ApprovalReturn and ToolReturn)."""
    raw: list[Any] = []
    for index, message in enumerate(messages):
        if message.get("type") == "tool_return":
            items = message.get("tool_returns")
            if not isinstance(items, list) or not items:
                raise ValidationError({"messages": f"item {index}: tool_returns must be a non-empty list"})
            raw += [{**item, "type": "tool"} if isinstance(item, dict) else item for item in items]
        elif message.get("approvals") is not None:
            if not isinstance(message["approvals"], list) or not message["approvals"]:
                raise ValidationError({"messages": f"item {index}: approvals must be a non-empty list"})
            raw += message["approvals"]
        elif isinstance(message.get("approve"), bool):  # the deprecated form: one answer for every pending call
            raw += [
                {
                    "type": "approval",
                    "tool_call_id": c["id"],
                    "approve": message["approve"],
                    "reason": message.get("reason"),
                }
                for c in pending
            ]
        else:
            raise ValidationError({"messages": f"item {index}: an approval needs approvals (or approve)"})
    answers: list[JSON] = []
    for index, item in enumerate(raw):
        where = f"approvals[{index}]"
        if not isinstance(item, dict):
            raise ValidationError({"messages": f"{where} must be an object"})
        call_id = item.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise ValidationError({"messages": f"{where}: tool_call_id is required"})
        kind = item.get("type") or "approval"
        if kind == "approval":
            if not isinstance(item.get("approve"), bool):
                raise ValidationError({"messages": f"{where}: approve must be true or false"})
            reason = item.get("reason")
            if reason is not None and not isinstance(reason, str):
                raise ValidationError({"messages": f"{where}: reason must be a string"})
            answers.append({"type": "approval", "tool_call_id": call_id, "approve": item["approve"], "reason": reason})
        elif kind == "tool":
            if item.get("status") not in ("success", "error"):
                raise ValidationError({"messages": f"{where}: status must be 'success' or 'error'"})
            if "tool_return" not in item:
                raise ValidationError({"messages": f"{where}: tool_return is required"})
            answers.append(
                {
                    "type": "tool",
                    "tool_call_id": call_id,
                    "tool_return": _text(item["tool_return"]),
                    "status": item["status"],
                    "stdout": _lines(item.get("stdout"), f"{where}.stdout"),
                    "stderr": _lines(item.get("stderr"), f"{where}.stderr"),
                }
            )
        else:
            raise ValidationError({"messages": f"{where}: type must be 'approval' or 'tool'"})
    return answers


def approval_input(
    *, agent: Agent, messages: list[JSON], conversation_id: uuid.UUID | None = None
) -> tuple[MessageSpec, list[JSON]]:
    """Check an approval input against the agent's pending calls and take them (caller: run_create's
    transaction). Returns the `approval` message to store and the decisions for the run ([{call, answer}]).
    Nothing pending, an unknown or already-answered tool call, or a call left unanswered: ValidationError."""
    if any(m.get("type") not in INPUT_TYPES for m in messages):
        raise ValidationError({"messages": "an approval cannot be sent together with other messages"})
    run = pending_run(agent=agent, conversation_id=conversation_id, lock=True)
    if run is not None and run.approval_due is not None and run.approval_due <= timezone.now():
        approvals_expire(agent_id=agent.id)
        run = None
    answers = _answers(messages, run.pending_calls if run is not None else [])
    if run is None:
        for answer in answers:
            if _answered(agent, answer["tool_call_id"]):
                raise ValidationError({"messages": f"the tool call {answer['tool_call_id']} has already been answered"})
        raise ValidationError({"messages": "no tool call is waiting for approval"})
    pending = {c["id"]: c for c in run.pending_calls}
    seen: set[str] = set()
    decisions = []
    for answer in answers:
        call_id = answer["tool_call_id"]
        if call_id in seen:
            raise ValidationError({"messages": f"the tool call {call_id} is answered twice"})
        seen.add(call_id)
        call = pending.get(call_id)
        if call is None:
            state = "has already been answered" if _answered(agent, call_id) else "is not waiting for approval"
            raise ValidationError({"messages": f"the tool call {call_id} {state}"})
        if call.get("client") and answer["type"] == "approval" and answer["approve"]:
            raise ValidationError(
                {
                    "messages": f"the tool call {call_id} is to the client-side tool {call['name']!r}: answer it "
                    "with its result (type 'tool', tool_return, status), or deny it"
                }
            )
        decisions.append({"call": call, "answer": answer})
    missing = [c for c in pending if c not in seen]
    if missing:
        raise ValidationError({"messages": f"every pending tool call needs an answer; missing: {', '.join(missing)}"})
    if not _release(run):
        raise ValidationError({"messages": "these tool calls have already been answered"})
    first = answers[0]
    spec = MessageSpec(
        role=MessageRole.APPROVAL,
        text="",
        content=[{"type": "approvals", "approvals": answers}],
        tool_call_id=first["tool_call_id"],
        in_context=False,
    )
    return spec, decisions


def approvals_expire(*, agent_id: uuid.UUID | None = None, now: dt.datetime | None = None) -> int:
    """Deny every pending call past its due time (of one agent, or all): each gets a tool result saying so, the
    run's error records it, and the agent takes input again. Returns the number of runs expired. Safe to race:
    a run is released by one caller only."""
    now = now or timezone.now()
    runs = Run.objects.filter(approval_due__lte=now)
    if agent_id is not None:
        runs = runs.filter(agent_id=agent_id)
    expired = 0
    for run in runs.select_related("agent"):
        with transaction.atomic():
            calls = run.pending_calls
            if not _release(run):
                continue
            ttl = settings.ENGRAM_APPROVAL_TTL
            reason = f"the approval request expired after {ttl} s without an answer"
            run.error = f"The tool call(s) waiting for approval were denied: {reason}."
            Run.objects.filter(pk=run.pk).update(error=run.error)
            specs = [
                MessageSpec(role="tool", text=denial_text(reason), tool_call_id=c["id"], name=c["name"], is_err=True)
                for c in calls
            ]
            message_create_many(agent=run.agent, specs=specs)
            run.pending_calls, run.approval_due = [], None
            events.run_status(run)
            expired += 1
    return expired


def agent_tool_approval_set(*, agent: Agent, tool_name: str, requires_approval: bool) -> Agent:
    """Whether calls of the agent's tool `tool_name` wait for approval: adds or removes its requires_approval
    tool rule. A tool the agent does not have is Tool.DoesNotExist."""
    from agents.runtime.tool_rules import REQUIRES_APPROVAL, clean

    if not agent.tools.filter(name=tool_name).exists():
        raise Tool.DoesNotExist(f"the agent has no tool named {tool_name!r}")
    with transaction.atomic():
        locked = Agent.objects.select_for_update().get(pk=agent.pk)
        rules = [
            r
            for r in locked.tool_rules or []
            if not (isinstance(r, dict) and r.get("type") == REQUIRES_APPROVAL and r.get("tool_name") == tool_name)
        ]
        if requires_approval:
            rules.append({"type": REQUIRES_APPROVAL, "tool_name": tool_name})
        locked.tool_rules = clean(rules)
        locked.save(update_fields=["tool_rules", "updated_at"])
    return locked
