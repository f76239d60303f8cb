"""Runs: one per request. `run_create` stores the input and a queued run and hands it to the runtime
(agents.runtime.dispatch: a fair share per organization); `run_cancel` and `run_delete` end it early. The claim,
the end and waiting live in agents.runtime.lifecycle and agents.runtime.waiting."""

import logging
import uuid
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.content import clean_part
from agents.models import (
    ACTIVE_RUN_STATUSES,
    Agent,
    Conversation,
    Message,
    MessageRole,
    Run,
    RunStatus,
    Step,
    StopReason,
)
from agents.quotas import tokens_quota_check
from agents.runtime import events
from agents.runtime.dispatch import run_dispatch
from agents.runtime.lifecycle import run_end_effects
from agents.runtime.recall import messages_embed_after_commit
from agents.services.approvals import (
    INPUT_TYPES,
    PendingApproval,
    approval_input,
    approvals_expire,
    client_tools_clean,
    pending_run,
)
from agents.services.messages import MessageSpec, counter_increment, message_create_many
from lib import tracing
from lib.providers import handle_clean

logger = logging.getLogger(__name__)

MAX_STEPS_LIMIT = 1_000
_INPUT_ROLES = (MessageRole.USER, MessageRole.SYSTEM, MessageRole.ASSISTANT)
_OPTION_KEYS = {
    "stream_tokens",
    "override_model",
    "include_return_message_types",
    "use_assistant_message",
    "enable_thinking",
    "client_tools",
}


def _content_text(content: Any, index: int) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(content, str):
        return content, [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        parts = [clean_part(part, f"messages[{index}].content[{i}]") for i, part in enumerate(content)]
        return "\n".join(p["text"] for p in parts if p["type"] == "text"), parts
    raise ValidationError({"messages": f"item {index}: content must be a string or a list of parts"})


def _clean_messages(messages: Any) -> list[MessageSpec]:
    if not isinstance(messages, list) or not messages:
        raise ValidationError({"messages": "must be a non-empty list"})
    specs = []
    for index, raw in enumerate(messages):
        if not isinstance(raw, dict):
            raise ValidationError({"messages": f"item {index} must be an object"})
        role = raw.get("role", "user")
        if role not in _INPUT_ROLES:
            raise ValidationError({"messages": f"item {index}: role must be user, system or assistant"})
        text, parts = _content_text(raw.get("content"), index)
        if not text.strip() and not parts:
            raise ValidationError({"messages": f"item {index}: content is empty"})
        otid = raw.get("otid") or ""
        for key in ("otid", "name", "sender_id"):
            if raw.get(key) is not None and not isinstance(raw[key], str):
                raise ValidationError({"messages": f"item {index}: {key} must be a string"})
        specs.append(
            MessageSpec(
                role=role,
                text=text,
                content=parts,
                otid=otid if role == MessageRole.USER else "",
                name=raw.get("name") or "",
                sender_id=raw.get("sender_id") or "",
            )
        )
    return specs


def _existing_run_for_otids(agent: Agent, specs: list[MessageSpec]) -> Run | None:
    otids = [s.otid for s in specs if s.otid]
    if not otids:
        return None
    message = Message.objects.filter(agent=agent, role=MessageRole.USER, otid__in=otids).select_related("run").first()
    return message.run if message is not None and message.run is not None else None


def run_create(
    *,
    actor: User | None,
    agent: Agent,
    messages: list[dict[str, Any]],
    max_steps: int = 50,
    options: dict[str, Any] | None = None,
    callback_url: str = "",
    conversation: Conversation | None = None,
) -> Run:
    """Persist the input messages and a queued Run in one transaction, then (after commit) dispatch it. The run
    belongs to `conversation` (one of the agent's), or to the agent's own history. A message whose `otid` the
    agent has already received is not stored twice: the earlier run is returned. An approval input (messages of
    type approval/tool_return) answers the pending tool calls of that history (agents.services.approvals); any
    other input while calls are pending is PendingApproval."""
    if conversation is not None and conversation.agent_id != agent.pk:
        raise ValidationError({"conversation_id": "the conversation belongs to another agent"})
    answering = isinstance(messages, list) and any(
        isinstance(m, dict) and m.get("type") in INPUT_TYPES for m in messages
    )
    specs = [] if answering else _clean_messages(messages)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or not 1 <= max_steps <= MAX_STEPS_LIMIT:
        raise ValidationError({"max_steps": f"must be an integer between 1 and {MAX_STEPS_LIMIT}"})
    options = dict(options or {})
    unknown = set(options) - _OPTION_KEYS
    if unknown:
        raise ValidationError({"options": f"unknown option(s): {', '.join(sorted(unknown))}"})
    override = options.get("override_model")
    if override is not None and not isinstance(override, str):
        raise ValidationError({"override_model": "must be a provider/model handle such as openai/gpt-4o-mini"})
    if override:
        handle_clean(override, field="override_model")
    if "client_tools" in options:
        options["client_tools"] = client_tools_clean(options["client_tools"])
        if not options["client_tools"]:
            del options["client_tools"]
    options["max_steps"] = max_steps
    trace = tracing.propagation_headers()
    if trace:  # the run's span continues the request's trace, wherever the run executes (lib.tracing)
        options["trace"] = trace
    existing = _existing_run_for_otids(agent, specs)
    if existing is not None:
        return existing
    tokens_quota_check(organization_id=agent.organization_id)
    try:
        with transaction.atomic():
            conversation_id = conversation.pk if conversation is not None else None
            if answering:
                spec, decisions = approval_input(agent=agent, messages=messages, conversation_id=conversation_id)
                specs, options["approvals"] = [spec], decisions
            else:
                _check_not_pending(agent, conversation_id)
            position = counter_increment(agent_id=agent.pk, field="run_seq", count=1)
            run = Run.objects.create(
                organization_id=agent.organization_id,
                agent=agent,
                conversation=conversation,
                created_by=actor,
                options=options,
                position=position,
                callback_url=callback_url,
            )
            message_create_many(
                agent=agent, specs=specs, run_id=run.id, numbered=False, conversation_id=conversation_id
            )
            if conversation is not None:
                Conversation.objects.filter(pk=conversation.pk).update(last_message_at=run.created_at)
            events.run_status(run)
            # In this transaction (no second commit per message); the hand-off to the executor follows the commit.
            run_dispatch(organization_id=run.organization_id, look_first=False)
    except IntegrityError:
        # A concurrent send with the same otid won the race.
        existing = _existing_run_for_otids(agent, specs)
        if existing is None:
            raise
        return existing
    return run


def _check_not_pending(agent: Agent, conversation_id: uuid.UUID | None) -> None:
    """Refuse new input to a history (the agent's own, or one conversation) while its tool calls wait for approval;
    calls past their due time are denied first."""
    run = pending_run(agent=agent, conversation_id=conversation_id)
    if run is None:
        return
    if run.approval_due is not None and run.approval_due <= timezone.now():
        approvals_expire(agent_id=agent.id)
        return
    raise PendingApproval(run)


def run_cancel(*, run: Run) -> Run:
    """Cancel a queued or running run (a running one stops before its next step is persisted). A run that has
    already ended is returned as it is: no event, no wake-up, no dispatch, no embedding (those belong to the one
    end the run had)."""
    with transaction.atomic():
        cancelled = Run.objects.filter(pk=run.pk, status__in=ACTIVE_RUN_STATUSES).update(
            status=RunStatus.CANCELLED, stop_reason=StopReason.CANCELLED, completed_at=timezone.now()
        )
        run.refresh_from_db()
        if cancelled:
            # Input of a run that never started stays out of the history's order but remains searchable.
            events.run_status(run)
            run_end_effects(run)
    return run


def run_delete(*, run: Run) -> Run:
    """Delete a run and its steps; an active run is cancelled first (its worker abandons the step in flight, see
    agents.runtime.loop._count_step). The run's messages stay in the agent's history (recall memory), without a run.
    Returns the run as it was last (cancelled, when it was active)."""
    with transaction.atomic():
        run = run_cancel(run=run)
        # Embedding by run finds nothing once the run is gone (its messages' run becomes NULL): name them instead.
        messages_embed_after_commit(Message.objects.filter(run=run).only("pk", "text"))
        Run.objects.filter(pk=run.pk).delete()
    return run


FEEDBACK_VALUES = ("positive", "negative")
MAX_FEEDBACK_TAGS = 100


def step_feedback_update(
    *, step: Step, feedback: str | None = None, clear_feedback: bool = False, tags: list[str] | None = None
) -> Step:
    """Record a user's feedback on a step: `feedback` positive/negative (`clear_feedback` removes it), `tags`
    added to the step's feedback tags (kept in order, without repeats)."""
    if feedback is not None and feedback not in FEEDBACK_VALUES:
        raise ValidationError({"feedback": "must be 'positive', 'negative' or null"})
    if tags is not None and (
        not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() and len(t) <= 200 for t in tags)
    ):
        raise ValidationError({"tags": "must be a list of non-empty strings of at most 200 characters"})
    with transaction.atomic():
        locked = Step.objects.select_for_update().get(pk=step.pk)
        if feedback is not None or clear_feedback:
            locked.feedback = feedback or ""
        if tags:
            merged = list(dict.fromkeys([*(locked.feedback_tags or []), *(t.strip() for t in tags)]))
            if len(merged) > MAX_FEEDBACK_TAGS:
                raise ValidationError({"tags": f"a step holds at most {MAX_FEEDBACK_TAGS} feedback tags"})
            locked.feedback_tags = merged
        locked.save(update_fields=["feedback", "feedback_tags"])
    return locked
