"""The agent loop: one run = steps until the agent is done (or max_steps, an error, a cancel).

A step = compile the context (compacting if needed) → one LLM call → in one transaction: the Step row keyed by
(run, index), the assistant message, the tool calls executed and their results. A step is persisted entirely or
not at all, so a run resumed after a crash (a redelivered Celery task) continues after its last persisted step
and never repeats one (nor its memory writes)."""

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import F

from agents.messages import call_reply
from agents.models import Agent, AgentType, Message, MessageRole, Run, RunStatus, Step, StopReason, Tool
from agents.runtime import context, events, lease, llm, observe
from agents.runtime.approvals import HELD_MARK, answer_result, held_tools, offer_client_tools
from agents.runtime.dispatch import run_release
from agents.runtime.history import History, conversation_model
from agents.runtime.lifecycle import run_claim, run_finish
from agents.runtime.tool_rules import Call, Plan, ToolRules
from agents.services.approvals import run_hold, run_refusal_while_held
from agents.services.messages import MessageSpec, assistant_message_id, message_create_many, text_content
from agents.tools.builtin import ToolContext
from agents.tools.execute import execute_tool
from lib import tracing
from lib.dbpool import connection_release, database_unavailable, database_wait

logger = logging.getLogger(__name__)

MAX_CONSECUTIVE_TOOL_ERRORS = 3
INTERNAL_ERROR = "the server failed while running this agent; the details are in the server log"
MAX_OVERFLOW_RETRIES = 2
_TRUE = (True, "true", "True", 1)
# How long a run's holder waits for its database to come back (run_execute_through_outages) before it leaves the
# run to the reaper (claimed) or the stale-dispatch sweep (not yet claimed).
DATABASE_OUTAGE_SECONDS = 120.0


@dataclass
class Outcome:
    stop: bool
    stop_reason: str = ""
    error: str = ""
    tool_errors: bool = False
    calls: list[Call] = field(default_factory=list)  # the step's successful tool calls (kept when rules apply)
    pending: list[dict[str, Any]] = field(default_factory=list)  # calls held for approval (requires_approval)

    @property
    def status(self) -> str:
        return RunStatus.FAILED if StopReason.failed(self.stop_reason) else RunStatus.COMPLETED


class _Abandon(Exception):
    """The run is no longer ours (cancelled, or another holder): drop this step without persisting it."""


def run_execute(*, run_id: uuid.UUID, token: str) -> None:
    """Claim and execute (or resume) a run. Never raises for a provider failure: the run records it. Raises the
    database's OperationalError/InterfaceError when it goes away (lib.dbpool): the caller retries as the holder."""
    run = run_claim(run_id=run_id, token=token)
    if run is None:
        # Not ours to run now (gone, final, another holder's, or not first in line): if it was dispatched and
        # still waits, its slot goes back; whatever blocks it dispatches it again when it ends.
        run_release(run_id=run_id)
        return
    lease.lease_hold(run_id=run.id, token=token)  # renewed until the run ends here; a lapsed lease is recovered
    with observe.run_context(run):
        try:
            _execute(run, token)
        except Exception as exc:
            if database_unavailable(exc):
                # The database went away mid-run: nothing more can be stored, and the run is not at fault. Its
                # steps so far are; the executor claims it again as the same holder and resumes (a Celery retry,
                # agents.runtime.executor), or the reaper hands it back once the lease lapses.
                logger.warning("run %s: the database is out of reach; the run resumes once it is back", run.id)
                raise
            logger.exception("run %s failed", run.id)
            # The exception's text (paths, library internals) stays in the log; members see run.error.
            run_finish(run=run, status=RunStatus.FAILED, stop_reason=StopReason.ERROR, error=INTERNAL_ERROR)
        finally:
            lease.lease_drop(run_id=run.id)


def run_execute_through_outages(*, run_id: uuid.UUID, token: str) -> None:
    """`run_execute`, carried through a moment without the database (lib.dbpool.database_unavailable: PostgreSQL
    restarting, SQLite busy past its timeout), before the claim or mid-run: wait until the database answers again
    (`database_wait`) and claim again at once as the same holder, which resumes the run after its last stored step
    (or, not yet claimed, claims it). Both executors run their runs through this (the Celery task, the in-process
    pool). Past DATABASE_OUTAGE_SECONDS it raises: a claimed run comes back when its lease lapses (the reaper), a
    dispatched one through the stale-dispatch sweep. Any other error is raised at once."""
    deadline = time.monotonic() + DATABASE_OUTAGE_SECONDS
    while True:
        close_old_connections()  # a connection broken by the outage goes back to the pool (replaced there)
        try:
            run_execute(run_id=run_id, token=token)
            return
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            # Waited in slices of a second: a worker's warm shutdown (SIGTERM) is not held up by the outage.
            while not database_wait(until=min(deadline, time.monotonic() + 1.0)):
                if lease.shutting_down() or time.monotonic() >= deadline:
                    logger.warning("run %s: the database is still out of reach; left to the reaper", run_id)
                    raise
            logger.warning("run %s: the database answers again; claiming the run again", run_id)
        finally:
            close_old_connections()


def _execute(run: Run, token: str) -> None:
    agent = Agent.objects.get(pk=run.agent_id)
    max_steps = int(run.options.get("max_steps", 50))
    pinned_model, pinned_settings = conversation_model(run.conversation_id)
    model = str(run.options.get("override_model") or pinned_model or agent.model)
    settings = {**(agent.model_settings or {}), **pinned_settings}  # the request's; api_base stays the agent's
    # step_count grows in the transaction of every persisted step, so a fresh run needs no look-up.
    last = Step.objects.filter(run=run).order_by("-index").first() if run.step_count else None
    if last is not None and not last.continues:
        # Resumed after the final step was persisted but before the run was marked finished.
        outcome = Outcome(stop=True, stop_reason=last.stop_reason or StopReason.END_TURN, error=last.error)
        run_finish(run=run, status=outcome.status, stop_reason=outcome.stop_reason, error=outcome.error)
        return
    index = last.index + 1 if last is not None else 0
    if index == 0 and not run.options.get("approvals"):
        # This input may have queued before the last run of its history (the agent's own, or its conversation: each
        # waits on its own, so not the agent-wide last stop reason) stopped to wait for approval.
        refusal = run_refusal_while_held(agent=agent, conversation_id=run.conversation_id)
        if refusal:
            run_finish(run=run, status=RunStatus.FAILED, stop_reason=StopReason.ERROR, error=refusal)
            return
    rules = ToolRules.of(agent.tool_rules or [])
    history: list[Call] = []  # the run's successful tool calls, which the rules are evaluated against
    exit_blocked = False
    if rules and last is not None:  # resumed: the history so far is in the run's persisted tool results
        history = _run_calls(run)
        exit_blocked = last.stop_reason == StopReason.REQUIRED_BEFORE_EXIT
    consecutive_errors = 0
    first = index  # the step that may trust the claim's fresh reads (not after an answer step: tools ran)
    if index == 0 and run.options.get("approvals"):  # the input answers held tool calls: apply it first
        try:
            history += _answer_step(agent, run, token)
        except _Abandon:
            return
        index = 1
    while index < max_steps:
        if lease.shutting_down():  # the worker stops: the steps so far are stored, the next claim resumes here
            lease.run_hand_back(run_id=run.id, token=token)
            return
        try:
            with tracing.span("agent_step", step_index=index, run_id=str(run.id)) as span:
                outcome = _step(
                    agent,
                    run,
                    token,
                    index,
                    model,
                    first=index == first,
                    rules=rules,
                    history=history,
                    exit_blocked=exit_blocked,
                    settings=settings,
                )
                tracing.set_attributes(span, stop_reason=outcome.stop_reason or None)
        except _Abandon:
            return
        if outcome.stop:
            return  # the step's transaction finished the run
        history += outcome.calls
        exit_blocked = outcome.stop_reason == StopReason.REQUIRED_BEFORE_EXIT
        consecutive_errors = consecutive_errors + 1 if outcome.tool_errors else 0
        if consecutive_errors >= MAX_CONSECUTIVE_TOOL_ERRORS:
            run_finish(
                run=run,
                status=RunStatus.FAILED,
                stop_reason=StopReason.INVALID_TOOL_CALL,
                error=f"{consecutive_errors} steps in a row ended in tool errors",
            )
            return
        index += 1
    run_finish(run=run, status=RunStatus.COMPLETED, stop_reason=StopReason.MAX_STEPS)


def _run_calls(run: Run) -> list[Call]:
    rows = (
        Message.objects.filter(run=run, role=MessageRole.TOOL, is_err=False, step__isnull=False)
        .order_by("seq")
        .values_list("name", "text")
    )
    return [Call(name, text) for name, text in rows]


def _answer_step(agent: Agent, run: Run, token: str) -> list[Call]:
    """Step 0 of a run whose input answers held tool calls: approved calls run, denials and client results become
    the calls' tool results. Persisted like any step (so a resumed run never repeats it). Returns the successful
    calls (for the tool rules)."""
    memgpt = agent.agent_type == AgentType.MEMGPT
    tools = {t.name: t for t in agent.tools.all()}
    step = Step(id=uuid.uuid4(), organization_id=agent.organization_id, run=run, agent=agent, index=0, model="")
    step.continues = True
    done: list[Call] = []
    try:
        with transaction.atomic():
            _count_step(run, token)
            step.save(force_insert=True)
            ctx = ToolContext(agent=agent, run_id=run.id, step_id=step.id)
            specs = []
            for decision in run.options["approvals"]:
                call, answer = decision["call"], decision["answer"]
                given = answer_result(answer)
                if given is None:
                    out = llm.ToolCallOut(id=call["id"], name=call["name"], arguments=call["arguments"])
                    text, is_err, _ = _run_tool(ctx, tools, out, memgpt)
                else:
                    text, is_err = given
                specs.append(
                    MessageSpec(role="tool", text=text, tool_call_id=call["id"], name=call["name"], is_err=is_err)
                )
                if not is_err:
                    done.append(Call(call["name"], text))
            message_create_many(agent=agent, specs=specs, run_id=run.id, step_id=step.id)
            events.step_done(step)
    except IntegrityError:
        raise _Abandon from None
    return done


def _offer(tools: list[llm.JSON], plan: Plan, memgpt: bool) -> tuple[list[llm.JSON], str | llm.JSON | None]:
    """The request's `tools` and `tool_choice` under the tool rules' plan for this step."""
    if plan.allowed is not None:
        tools = [t for t in tools if t["function"]["name"] in plan.allowed]
    if not tools:
        return [], None
    if plan.force:
        return tools, {"type": "function", "function": {"name": plan.force}}
    return tools, "required" if memgpt or plan.require else "auto"


def _count_step(run: Run, token: str, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
    """Add the step to the run's usage with a conditional UPDATE, which also locks the run row for the rest of
    the transaction (so a cancel waits for it); abandon if the run was cancelled or taken over meanwhile."""
    counted = Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING, claim_token=token).update(
        prompt_tokens=F("prompt_tokens") + prompt_tokens,
        completion_tokens=F("completion_tokens") + completion_tokens,
        step_count=F("step_count") + 1,
    )
    if counted != 1:
        raise _Abandon


def _step(
    agent: Agent,
    run: Run,
    token: str,
    index: int,
    model: str,
    *,
    first: bool = False,
    rules: ToolRules | None = None,
    history: list[Call] | None = None,
    exit_blocked: bool = False,
    settings: dict[str, Any] | None = None,
) -> Outcome:
    """One step, persisted in one transaction; when it ends the run, that transaction also finishes the run.
    `first`: the run was claimed and the agent row read just now, so neither is checked again. `rules`/`history`:
    the agent's tool rules and the run's successful tool calls so far. `settings`: the request's model settings
    (the agent's, with its conversation's pinned ones over them)."""
    if not first:  # cancelled between steps? (the commit re-checks; this saves the LLM call)
        status = Run.objects.filter(pk=run.pk).values_list("status", flat=True).first()
        if status != RunStatus.RUNNING:
            raise _Abandon
    memgpt = agent.agent_type == AgentType.MEMGPT
    on_delta = None
    if run.options.get("stream_tokens"):
        streamed: dict[str, int] = {}  # characters sent so far per kind: each delta says where it starts

        def on_delta(kind: llm.DeltaKind, delta: str) -> None:
            offset = streamed.get(kind, 0)
            streamed[kind] = offset + len(delta)
            events.token(agent_id=agent.id, run_id=run.id, step_index=index, kind=kind, delta=delta, offset=offset)

    force = False
    request: dict[str, Any] = {}
    plan = Plan()
    client_tools: list[llm.JSON] = run.options.get("client_tools") or []
    held, client_names = held_tools(agent.tool_rules, client_tools)
    for attempt in range(MAX_OVERFLOW_RETRIES + 1):
        started = time.monotonic()
        try:
            thread = History.of(agent, run.conversation_id, fresh=first and attempt == 0)
            ctx = context.prepare(thread, model=model, run_id=run.id, force_compact=force, fresh=True)
            tools: list[llm.JSON] = ctx.tools
            tool_choice: str | llm.JSON | None = ("required" if memgpt else "auto") if tools else None
            if rules:
                plan = rules.plan(history or [], ctx.tools_by_name, exit_blocked=exit_blocked)
                tools, tool_choice = _offer(tools, plan, memgpt)
            if client_tools and not (isinstance(tool_choice, dict) and tool_choice.get("type") == "function"):
                tools, tool_choice = offer_client_tools(tools, tool_choice, client_tools, memgpt)
            request = llm.build_request(
                model=model,
                messages=ctx.request_messages(ctx.summary),
                tools=tools,
                model_settings=agent.model_settings if settings is None else settings,
                max_tokens=ctx.budget.output,
                tool_choice=tool_choice,
            )
            connection_release()  # the LLM call needs no database: other runs use the pooled connection meanwhile
            response = llm.complete(request, api_base=llm.api_base_for(model, agent.model_settings), on_delta=on_delta)
            break
        except llm.ContextOverflowError as exc:
            if attempt < MAX_OVERFLOW_RETRIES:
                logger.info("run %s: provider reports context overflow; compacting harder", run.id)
                force = True
                continue
            return _failed_step(agent, run, token, index, model, request, exc, started)
        except llm.LLMError as exc:
            return _failed_step(agent, run, token, index, model, request, exc, started)
    latency_ms = int((time.monotonic() - started) * 1000)
    step = Step(
        id=uuid.uuid4(),
        organization_id=agent.organization_id,
        run=run,
        agent=agent,
        index=index,
        model=model,
        request=request,
        response=response.raw,
        prompt_tokens=response.prompt_tokens,
        completion_tokens=response.completion_tokens,
        cost=response.cost,
        latency_ms=latency_ms,
    )
    try:
        with transaction.atomic():
            _count_step(run, token, response.prompt_tokens, response.completion_tokens)
            # Tools run inside the step's transaction: their memory writes commit with the step or not at all.
            outcome, specs = _apply(
                agent,
                run,
                step,
                response,
                ctx.tools_by_name,
                memgpt,
                rules=rules,
                history=history or [],
                plan=plan,
                held=(held, client_names),
            )
            step.continues = not outcome.stop
            step.stop_reason = outcome.stop_reason
            step.save(force_insert=True)  # unique (run, index): a persisted step is never written twice
            message_create_many(
                agent=agent, specs=specs, run_id=run.id, step_id=step.id, conversation_id=run.conversation_id
            )
            events.step_done(step)
            observe.step_recorded(step)
            if outcome.pending:
                run_hold(run=run, calls=outcome.pending)
            if outcome.stop:
                run_finish(run=run, status=outcome.status, stop_reason=outcome.stop_reason, error=outcome.error)
    except IntegrityError:
        raise _Abandon from None
    return outcome


def _failed_step(
    agent: Agent,
    run: Run,
    token: str,
    index: int,
    model: str,
    request: dict[str, Any],
    exc: llm.LLMError,
    started: float,
) -> Outcome:
    stop_reason = exc.stop_reason
    # Clients see the short reason (Step.error and Run.error reach the API, SSE, events and the ADE).
    logger.warning("run %s step %d: %s: %s", run.id, index, type(exc).__name__, exc, exc_info=exc.__cause__)
    with transaction.atomic():
        _count_step(run, token)
        try:
            with transaction.atomic():
                step = Step.objects.create(
                    organization_id=agent.organization_id,
                    run=run,
                    agent=agent,
                    index=index,
                    model=model,
                    request=request,
                    error=exc.reason[:10_000],
                    latency_ms=int((time.monotonic() - started) * 1000),
                    stop_reason=stop_reason,
                )
        except IntegrityError:
            raise _Abandon from None
        events.step_done(step)
        observe.step_recorded(step)
        outcome = Outcome(stop=True, stop_reason=stop_reason, error=exc.reason[:10_000])
        run_finish(run=run, status=outcome.status, stop_reason=outcome.stop_reason, error=outcome.error)
    return outcome


def _apply(
    agent: Agent,
    run: Run,
    step: Step,
    response: llm.LLMResponse,
    tools: dict[str, Tool],
    memgpt: bool,
    *,
    rules: ToolRules | None = None,
    history: list[Call] | None = None,
    plan: Plan | None = None,
    held: tuple[set[str], set[str]] = (set(), set()),
) -> tuple[Outcome, list[MessageSpec]]:
    """Turn one LLM response into messages, executing the tool calls it asks for (those the tool rules allow).
    Calls of `held` tools (requires approval; the client-side ones among them) are not run: the step stops the
    run with `requires_approval` and they wait for the next send's answer."""
    calls: list[dict[str, Any]] = [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in response.tool_calls
    ]
    assistant = MessageSpec(
        id=assistant_message_id(run_id=run.id, step_index=step.index),
        role="assistant",
        text=response.content,
        content=text_content(response.content),
        reasoning=response.reasoning,
        tool_calls=calls,
    )
    if memgpt:
        # Content is the inner monologue; the user-facing text is what send_message carries.
        assistant.reasoning = "\n".join(p for p in (response.reasoning, response.content) if p)
        assistant.text = ""
    specs = [assistant]
    done: list[Call] = []  # this step's successful calls
    pending: list[dict[str, Any]] = []
    if not response.tool_calls:
        outcome = Outcome(stop=True, stop_reason=StopReason.NO_TOOL_CALL if memgpt else StopReason.END_TURN)
        return (_ruled(outcome, rules, history or [], done, tools) if rules else outcome), specs
    ctx = ToolContext(agent=agent, run_id=run.id, step_id=step.id)
    any_error = all_error = heartbeat = replied = False
    all_error = True
    for raw, call in zip(calls, response.tool_calls, strict=True):
        refusal = _refusal(rules, history or [], done, plan, tools, call.name) if rules else None
        if refusal is None and call.name in held[0]:
            raw[HELD_MARK] = True
            pending.append(
                {"id": call.id, "name": call.name, "arguments": call.arguments, "client": call.name in held[1]}
            )
            continue
        if refusal is not None:
            result, is_err, wants_heartbeat = refusal, True, memgpt
        else:
            result, is_err, wants_heartbeat = _run_tool(ctx, tools, call, memgpt)
        specs.append(MessageSpec(role="tool", text=result, tool_call_id=call.id, name=call.name, is_err=is_err))
        if rules and not is_err:
            done.append(Call(call.name, result))
        any_error = any_error or is_err
        all_error = all_error and is_err
        heartbeat = heartbeat or wants_heartbeat
        reply = None if is_err else call_reply(raw)
        if reply is not None:  # the row's text is the reply (agents.messages), also for a memgpt agent
            replied = True
            assistant.text = "\n".join(p for p in (assistant.text, reply) if p)
    if pending:
        return Outcome(stop=True, stop_reason=StopReason.REQUIRES_APPROVAL, calls=done, pending=pending), specs
    if not memgpt:
        outcome = Outcome(stop=False, tool_errors=all_error)
    elif replied and not any_error:
        outcome = Outcome(stop=True, stop_reason=StopReason.END_TURN)
    elif heartbeat or any_error:
        outcome = Outcome(stop=False, tool_errors=all_error)
    else:
        outcome = Outcome(stop=True, stop_reason=StopReason.END_TURN)
    return (_ruled(outcome, rules, history or [], done, tools) if rules else outcome), specs


def _refusal(
    rules: ToolRules, history: list[Call], done: list[Call], plan: Plan | None, tools: dict[str, Tool], name: str
) -> str | None:
    """The tool error for a call the rules forbid right now, else None. The step's plan holds for its first call;
    later calls of the same response are judged with the calls before them counted."""
    if name not in tools:
        return None  # an unknown tool: _run_tool says so
    allowed = plan.allowed if plan is not None and not done else rules.allowed([*history, *done], tools)
    if allowed is None or name in allowed:
        return None
    return (
        f"Error: the tool rules do not allow calling '{name}' now. "
        f"Allowed tools: {', '.join(sorted(allowed)) or 'none (reply without calling a tool)'}"
    )


def _ruled(
    outcome: Outcome, rules: ToolRules, history: list[Call], done: list[Call], tools: dict[str, Tool]
) -> Outcome:
    """Apply exit_loop, continue_loop and required_before_exit to a step's outcome."""
    outcome.calls = done
    if rules.ends_run(done):
        outcome = Outcome(stop=True, stop_reason=StopReason.TOOL_RULE, calls=done)
    elif outcome.stop and rules.continues_run(done):
        outcome = Outcome(stop=False, calls=done)
    if (
        outcome.stop
        and StopReason.natural_end(outcome.stop_reason)
        and rules.missing_required([*history, *done], tools)
    ):
        outcome = Outcome(stop=False, stop_reason=StopReason.REQUIRED_BEFORE_EXIT, calls=done)
    return outcome


def _run_tool(ctx: ToolContext, tools: dict[str, Tool], call: llm.ToolCallOut, memgpt: bool) -> tuple[str, bool, bool]:
    """(result text, is_error, heartbeat requested). Errors are for the model to read."""
    tool = tools.get(call.name)
    if tool is None:
        available = ", ".join(sorted(tools)) or "none"
        return f"Error: unknown tool '{call.name}'. Available tools: {available}", True, False
    try:
        args = json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError as exc:
        return f"Error: the arguments are not valid JSON ({exc.msg} at position {exc.pos})", True, memgpt
    if not isinstance(args, dict):
        return "Error: the arguments must be a JSON object", True, memgpt
    heartbeat = memgpt and args.pop("request_heartbeat", False) in _TRUE
    result = execute_tool(ctx, tool, args)
    return result.text, result.is_err, heartbeat
