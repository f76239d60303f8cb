"""Runs: one per request. The database allows one running run per agent (a partial unique index); queued
runs start in arrival order (`position`). A run is dispatched fairly (agents.services.dispatch: a cap per
organization), claimed with a conditional UPDATE, executed by a Celery worker (production) or a thread in the
server process (embedded profile), and finished with a conditional UPDATE; then its organization's next queued
run is dispatched."""

import atexit
import functools
import logging
import os
import threading
import time
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from agents import events
from agents.content import clean_part
from agents.models import ACTIVE_RUN_STATUSES, Agent, Message, MessageRole, Run, RunStatus, Step
from agents.recall import messages_embed_after_commit, run_messages_embed_after_commit
from agents.services.dispatch import organization_lock, run_dispatch
from agents.services.messages import MessageSpec, counter_increment, message_create_many, seq_allocate
from config.providers import handle_clean

logger = logging.getLogger(__name__)

MAX_STEPS_LIMIT = 1_000
TERMINAL_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)
_INPUT_ROLES = (MessageRole.USER, MessageRole.SYSTEM, MessageRole.ASSISTANT)
_OPTION_KEYS = {
    "stream_tokens",
    "override_model",
    "include_return_message_types",
    "use_assistant_message",
    "enable_thinking",
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
) -> Run:
    """Persist the input messages and a queued Run in one transaction, then (after commit) dispatch it.
    A message whose `otid` the agent has already received is not stored twice: the earlier run is returned."""
    specs = _clean_messages(messages)
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
    options["max_steps"] = max_steps
    existing = _existing_run_for_otids(agent, specs)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            position = counter_increment(agent_id=agent.pk, field="run_seq", count=1)
            run = Run.objects.create(
                organization_id=agent.organization_id,
                agent=agent,
                created_by=actor,
                options=options,
                position=position,
                callback_url=callback_url,
            )
            message_create_many(agent=agent, specs=specs, run_id=run.id, numbered=False)
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


def _claim_sql() -> str:
    table = connection.ops.quote_name(Run._meta.db_table)
    # started_at is the moment the claim went through. PostgreSQL: the UPDATE may wait for the agent's previous
    # run to commit its end (the unique index), so the clock is read in the statement, after that wait. SQLite:
    # the caller reads it once the transaction holds the write lock.
    started = "clock_timestamp()" if connection.vendor == "postgresql" else "%s"
    return (
        f"UPDATE {table} SET status = %s, claim_token = %s, started_at = {started} "  # noqa: S608 (fixed names)
        f"WHERE id = %s AND status = %s AND NOT EXISTS (SELECT 1 FROM {table} e WHERE e.agent_id = {table}.agent_id "
        f"AND e.status = %s AND e.position < {table}.position) RETURNING *"
    )


def run_claim(*, run_id: uuid.UUID, token: str) -> Run | None:
    """Claim a queued run for `token`: one conditional UPDATE … RETURNING (raw SQL: this runs once per request)
    that also checks that no earlier send of the agent is still queued; the unique index refuses a second
    running run of the agent. A running run is returned only to the holder of its token: a redelivered
    Celery message resumes. Returns None when the run is not ours to execute (gone, finished, another holder,
    or not first in line)."""
    pk = Run._meta.pk.get_db_prep_value(run_id, connection)
    try:
        with transaction.atomic():
            started = []
            if connection.vendor != "postgresql":
                started = [Run._meta.get_field("started_at").get_db_prep_value(timezone.now(), connection)]
            params = [RunStatus.RUNNING, token, *started, pk, RunStatus.QUEUED, RunStatus.QUEUED]
            claimed = list(Run.objects.raw(_claim_sql(), params))  # the claimed row, or none
            if not claimed:
                # An earlier send goes first (it dispatches us when it ends), or the run is gone, final, or running:
                # ours only on a redelivery of the same task.
                run = Run.objects.filter(pk=run_id).first()
                return run if run and run.status == RunStatus.RUNNING and run.claim_token == token else None
            [run] = claimed
            _number_input(run)
            events.run_status(run)
    except IntegrityError:
        return None  # another run of this agent is running; it dispatches the next one when it ends
    return run


def _number_input(run: Run) -> None:
    """Give the queued input messages their place in the history now that the run starts."""
    pending = list(Message.objects.filter(run=run, seq=None).order_by("created_at", "id"))
    if not pending:
        return
    first = seq_allocate(agent_id=run.agent_id, count=len(pending))
    for offset, message in enumerate(pending):
        message.seq = first + offset
        message.in_context = True
        # Usually one message: a plain UPDATE is much cheaper to build than bulk_update's CASE expressions.
        Message.objects.filter(pk=message.pk).update(seq=message.seq, in_context=True)
    for message in pending:
        events.message_created(message)


def run_finish(*, run: Run, status: str, stop_reason: str, error: str = "") -> bool:
    """Move a running run to a final status (conditional: False when it was cancelled meanwhile) and record it on
    the agent. After commit, waiters wake and the organization's next queued run, if any, is dispatched. Called inside
    the transaction of the run's last step, it commits with that step."""
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        done = Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=status, stop_reason=stop_reason, error=error[:10_000], completed_at=now
        )
        if not done:  # cancelled meanwhile: run_cancel woke the waiters and dispatches the next run
            return False
        duration = int((now - run.started_at).total_seconds() * 1000) if run.started_at else None
        _record_on_agent(run, now, duration, stop_reason)
        run.status, run.stop_reason, run.error, run.completed_at = status, stop_reason, error, now
        events.run_status(run)
        _after_end(run)
    return True


def _record_on_agent(run: Run, now: Any, duration: int | None, stop_reason: str) -> None:
    """Record the run's end on its agent (one statement)."""
    table = connection.ops.quote_name(Agent._meta.db_table)
    completion = Agent._meta.get_field("last_run_completion").get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_run_completion = %s, last_run_duration_ms = %s, last_stop_reason = %s "  # noqa: S608
            "WHERE id = %s",
            [completion, duration, stop_reason, Agent._meta.pk.get_db_prep_value(run.agent_id, connection)],
        )


def _after_end(run: Run) -> None:
    """Caller is in the transaction that ends the run."""
    # Waiters first: the caller's answer should not wait for the look-up of the next run. The run's slot is free
    # once this commits: its organization's oldest waiting run (of any of its agents) takes it.
    organization_lock(organization_id=run.organization_id)
    transaction.on_commit(lambda: _notify_waiters(run.pk))
    transaction.on_commit(lambda: run_dispatch(organization_id=run.organization_id))
    run_messages_embed_after_commit(run.pk)


def run_cancel(*, run: Run) -> Run:
    """Cancel a queued or running run (a running one stops before its next step is persisted). A run that has
    already ended is returned as it is: no event, no wake-up, no dispatch, no embedding (those belong to the one
    end the run had)."""
    with transaction.atomic():
        cancelled = Run.objects.filter(pk=run.pk, status__in=ACTIVE_RUN_STATUSES).update(
            status=RunStatus.CANCELLED, stop_reason="cancelled", completed_at=timezone.now()
        )
        run.refresh_from_db()
        if cancelled:
            # Input of a run that never started stays out of the history's order but remains searchable.
            events.run_status(run)
            _after_end(run)
    return run


def run_delete(*, run: Run) -> Run:
    """Delete a run and its steps; an active run is cancelled first (its worker abandons the step in flight, see
    agents.loop._count_step). The run's messages stay in the agent's history (recall memory), without a run.
    Returns the run as it was last (cancelled, when it was active)."""
    with transaction.atomic():
        run = run_cancel(run=run)
        # Embedding by run finds nothing once the run is gone (its messages' run becomes NULL): name them instead.
        messages_embed_after_commit(Message.objects.filter(run=run).only("pk", "text"))
        Run.objects.filter(pk=run.pk).delete()
    return run


# -- waiting ------------------------------------------------------------------------------------------
# A waiter (the sync REST call, `manage.py chat`) wakes as soon as the run ends: through an in-process event
# set by run_finish in this process, or, when a Celery worker ran it, by this process's one listener thread,
# subscribed to every run's end on Redis. The database stays the truth: the row is re-read on every wake-up and
# at least every 10 ms → 100 ms without a listener (backing off), every second with one.

_waiters_lock = threading.Lock()
_waiters: dict[uuid.UUID, threading.Event] = {}
_CHANNEL = "engram:run-done:{}"


@functools.cache
def _redis() -> Any:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def _wake(run_id: uuid.UUID) -> None:
    with _waiters_lock:
        waiter = _waiters.get(run_id)
    if waiter is not None:
        waiter.set()


def _notify_waiters(run_id: uuid.UUID) -> None:
    _wake(run_id)
    if settings.REDIS_URL:
        try:
            _redis().publish(_CHANNEL.format(run_id), b"1")
        except Exception:  # waiters fall back to polling
            logger.warning("could not publish the end of run %s", run_id, exc_info=True)


class _RunEndListener:
    """One daemon thread per process with a Redis pattern subscription to every run's end: a wait costs no
    connection or subscription of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._ready = threading.Event()
        self._stopping = False

    def _stop(self) -> None:  # before the interpreter (or a test's Redis) goes: no warnings from a dying thread
        self._stopping = True

    def listening(self) -> bool:
        """Start the thread if needed; True once it is subscribed (waits up to a second for that)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                if self._thread is None:  # registered after whatever runs Redis here: at exit, runs before it
                    atexit.register(self._stop)
                self._pid = os.getpid()
                self._ready.clear()
                self._thread = threading.Thread(target=self._run, name="engram-run-ends", daemon=True)
                self._thread.start()
        return self._ready.wait(timeout=1.0)

    def _run(self) -> None:
        prefix = _CHANNEL.format("")
        while True:
            try:
                with _redis().pubsub() as pubsub:  # closes its connection when the loop fails
                    pubsub.psubscribe(_CHANNEL.format("*"))
                    for message in pubsub.listen():
                        if message["type"] == "psubscribe":
                            self._ready.set()
                        elif message["type"] == "pmessage":
                            channel = message["channel"].decode()
                            _wake(uuid.UUID(channel.removeprefix(prefix)))
            except Exception:
                if self._stopping:
                    return
                logger.warning("listening for run ends on Redis failed; retrying in 1 s", exc_info=True)
            self._ready.clear()
            time.sleep(1.0)


_listener = _RunEndListener()


def run_wait(*, run_id: uuid.UUID, timeout: float) -> Run:
    """Block until the run is final or `timeout` seconds pass; returns the run as it then is."""
    deadline = time.monotonic() + timeout
    with _waiters_lock:
        waiter = _waiters.setdefault(run_id, threading.Event())
    listening = bool(settings.REDIS_URL) and _listener.listening()
    interval = 0.01
    try:
        # Usually still running: read the status alone first, the whole row after a wake-up.
        if Run.objects.filter(pk=run_id).values_list("status", flat=True).first() in TERMINAL_STATUSES:
            return Run.objects.get(pk=run_id)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Run.objects.get(pk=run_id)
            if waiter.wait(min(1.0 if listening else interval, remaining)):
                waiter.clear()
            else:
                interval = min(interval * 1.5, 0.1)
            run = Run.objects.get(pk=run_id)
            if run.status in TERMINAL_STATUSES:
                return run
    finally:
        with _waiters_lock:
            if _waiters.get(run_id) is waiter:
                _waiters.pop(run_id, None)


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
