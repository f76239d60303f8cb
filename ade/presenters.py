"""Presentation helpers: turn rows into what templates show (chat items, diffs, SVG charts). No queries, no writes."""

import contextlib
import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from ade.markdown import render_markdown
from agents.messages import call_held, call_reply, reply_text
from agents.models import Message


@dataclass
class ToolCallView:
    """One tool call as the chat shows it: a compact item (name, short arguments, status) with its return folded
    in once it arrives (`chat_items`)."""

    id: str
    name: str
    arguments: str
    summary: str = ""  # the arguments on one short line
    held: bool = False  # waited (or waits) for approval, or for a client's result
    pending: bool = False  # still waits: the chat offers Approve / Deny
    client: bool = False  # a client-side tool: only its client can answer with a result
    returned: bool = False  # its return is folded in (`result`, `is_err`)
    result: str = ""
    is_err: bool = False

    @property
    def status(self) -> str:
        """ "waiting" (for approval or a client), "error", "done", or "running" (no return yet)."""
        if self.pending:
            return "waiting"
        if self.returned:
            return "error" if self.is_err else "done"
        return "called"


@dataclass
class ChatItem:
    """One message as the chat shows it: a user/assistant bubble, reasoning, tool calls or a tool return."""

    seq: int | None  # None while the message waits in a queued run
    role: str
    created_at: Any
    text: str = ""
    html: SafeString | None = None  # the text as sanitized Markdown, for user and assistant bubbles
    reasoning: str = ""
    tool_calls: list[ToolCallView] = field(default_factory=list)
    tool_name: str = ""
    is_err: bool = False
    step_id: str = ""
    run_id: str = ""
    in_context: bool = True
    # Set on the last message of a run that did not complete: "failed: <error>" or "cancelled".
    run_outcome: str = ""
    retry_run: str = ""  # the failed run's id on that same message: the chat offers to send its input again


def pretty_json(raw: Any) -> str:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return str(raw)
    return json.dumps(raw, indent=2, ensure_ascii=False)


SUMMARY_CHARS = 80


def arguments_summary(raw: Any) -> str:
    """A call's arguments on one short line: `key: value, …` (values as JSON), cut at SUMMARY_CHARS."""
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            raw = json.loads(raw)
    if isinstance(raw, dict):
        text = ", ".join(f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in raw.items())
    else:
        text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def _tool_call(raw: Any, pending: dict[str, dict[str, Any]] | None = None) -> ToolCallView:
    if not isinstance(raw, dict):
        return ToolCallView(id="", name="?", arguments=str(raw), summary=arguments_summary(str(raw)))
    function: dict[str, Any] = raw["function"] if isinstance(raw.get("function"), dict) else raw
    call_id = str(raw.get("id", ""))
    waiting = (pending or {}).get(call_id)
    return ToolCallView(
        id=call_id,
        name=str(function.get("name", "?")),
        arguments=pretty_json(function.get("arguments", "")),
        summary=arguments_summary(function.get("arguments", "")),
        held=call_held(raw),
        pending=waiting is not None,
        client=bool(waiting and waiting.get("client")),
    )


def approval_summary(message: Message) -> str:
    """What a stored approval said, one line per answer: "Approved", "Denied: <reason>", "Result from the client"."""
    parts = message.content if isinstance(message.content, list) else []
    answers = next((p.get("approvals") for p in parts if isinstance(p, dict) and p.get("type") == "approvals"), None)
    lines = []
    for answer in answers if isinstance(answers, list) else []:
        if not isinstance(answer, dict):
            continue
        if answer.get("type") == "tool":
            lines.append(f"Result from the client ({answer.get('status')})")
        elif answer.get("approve"):
            lines.append("Approved")
        else:
            lines.append(f"Denied: {answer.get('reason') or 'no reason given'}")
    return "\n".join(lines)


def chat_item(message: Message, pending: dict[str, dict[str, Any]] | None = None) -> ChatItem:
    item = ChatItem(
        seq=message.seq,
        role=message.role,
        created_at=message.created_at,
        text=message.text,
        reasoning=message.reasoning,
        tool_name=message.name,
        is_err=message.is_err,
        step_id=str(message.step_id or ""),
        run_id=str(message.run_id or ""),
        in_context=message.in_context,
    )
    # A reply given through send_message shows as the row's text (agents.messages.reply_text), not as a call.
    item.text = approval_summary(message) if message.role == "approval" else reply_text(message)
    if item.text and message.role in ("user", "assistant"):
        item.html = render_markdown(item.text)
    item.tool_calls = [_tool_call(raw, pending) for raw in message.tool_calls or [] if call_reply(raw) is None]
    return item


# What a member can do about a provider failure (lib.providers.failure_reason says what happened, never more).
_FAILURE_HINTS = [
    (re.compile(r"returned (401|403)\b"), "Check the provider's API key on the server (e.g. OPENAI_API_KEY)."),
    (re.compile(r"returned 404\b"), "Check the model handle in Settings."),
    (re.compile(r"returned 429\b"), "The provider is rate limiting: wait a moment, then Retry."),
    (re.compile(r"returned 402\b"), "The provider's account needs credit."),
    (re.compile(r"could not be reached|did not answer"), "Check the provider's address (e.g. OPENAI_API_BASE)."),
    (re.compile(r"context window"), "Reset the context window in Settings, or pick a model with a larger one."),
]


def failure_note(error: str) -> str:
    """The chat's note on a failed run: what went wrong and, when known, what to do about it."""
    note = f"Run failed: {error or 'no reason recorded'}"
    hint = next((text for pattern, text in _FAILURE_HINTS if pattern.search(error)), "")
    return f"{note}. {hint}" if hint else note


def step_tool_calls(response: Any) -> list[ToolCallView]:
    """Tool calls in a stored chat-completion response (OpenAI shape), for the step view."""
    try:
        calls = response["choices"][0]["message"].get("tool_calls") or []
    except (KeyError, IndexError, TypeError, AttributeError):
        return []
    return [_tool_call(raw) for raw in calls]


def chat_items(
    messages: list[Message],
    outcomes: dict[str, str] | None = None,
    retryable: frozenset[str] = frozenset(),
    pending: list[dict[str, Any]] | None = None,
) -> list[ChatItem]:
    """One item per message, but a tool return is folded into the call it answers when that call is among
    `messages` (a reply's return, send_message's, is dropped with its call). `outcomes` maps run ids to a note for
    runs that failed or were cancelled; it goes on their last item, with a retry for the runs in `retryable`.
    `pending`: the tool calls waiting for approval (agents.selectors.pending_calls)."""
    waiting = {str(c.get("id")): c for c in pending or []}
    items = _folded([(m, chat_item(m, waiting)) for m in messages])
    if outcomes:
        last: dict[str, ChatItem] = {}
        for item in items:
            if item.run_id in outcomes:
                last[item.run_id] = item
        for run_id, item in last.items():
            item.run_outcome = outcomes[run_id]
            item.retry_run = run_id if run_id in retryable else ""
    return items


def _folded(pairs: list[tuple[Message, ChatItem]]) -> list[ChatItem]:
    calls: dict[str, ToolCallView] = {}
    replies: set[str] = set()  # the ids of send_message calls: the reply is the row's text
    items: list[ChatItem] = []
    for message, item in pairs:
        if message.role == "tool" and message.tool_call_id:
            call = calls.get(message.tool_call_id)
            if call is not None:
                call.returned, call.result, call.is_err = True, pretty_json(message.text), message.is_err
                continue
            if message.tool_call_id in replies:
                continue
        for raw in message.tool_calls or []:
            call_id = str(raw.get("id", "")) if isinstance(raw, dict) else ""
            if call_id and call_reply(raw) is not None:
                replies.add(call_id)
        calls.update((call.id, call) for call in item.tool_calls if call.id)
        items.append(item)
    return items


_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")


def inline_diff(before: str, after: str) -> SafeString:
    """Word-level diff as HTML: removed words in <del>, added ones in <ins>, everything escaped."""
    a, b = _TOKEN.findall(before), _TOKEN.findall(after)
    parts: list[SafeString] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(format_html("{}", "".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            parts.append(format_html("<del>{}</del>", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            parts.append(format_html("<ins>{}</ins>", "".join(b[j1:j2])))
    return mark_safe("".join(parts))  # noqa: S308 - every part went through format_html


PALETTE = ["#3056d3", "#e07a1f", "#1a7f37", "#b42318", "#7c3aed", "#0e7490", "#a16207", "#be185d"]


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]
    color: str


def stacked_bars(labels: list[str], series: list[Series], *, title: str, unit: str = "") -> SafeString:
    """An inline SVG stacked bar chart (one bar per label), sized by viewBox so it scales to its container."""
    width, height, pad_left, pad_bottom, pad_top = 640, 220, 48, 28, 10
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    peak = max(totals, default=0) or 1
    plot_h = height - pad_bottom - pad_top
    slot = (width - pad_left) / max(len(labels), 1)
    bar_w = max(slot * 0.7, 1)
    parts: list[SafeString] = []
    for f in (0.0, 0.5, 1.0):
        y = pad_top + plot_h * (1 - f)
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/>'
                '<text x="{}" y="{}" class="axis" text-anchor="end">{}</text>',
                pad_left,
                width,
                _n(y),
                _n(y),
                pad_left - 4,
                _n(y + 4),
                _fmt(peak * f),
            )
        )
    for i, label in enumerate(labels):
        x = pad_left + i * slot + (slot - bar_w) / 2
        top = float(height - pad_bottom)
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = value / peak * plot_h
            top -= h
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{} · {}: {}{}</title></rect>',
                    _n(x),
                    _n(top),
                    _n(bar_w),
                    _n(h),
                    s.color,
                    label,
                    s.name,
                    _fmt(value),
                    unit,
                )
            )
        if len(labels) <= 16 or i % 2 == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" class="axis" text-anchor="middle">{}</text>',
                    _n(x + bar_w / 2),
                    height - 10,
                    label[5:],
                )
            )
    body = mark_safe("".join(parts))  # noqa: S308 - every part went through format_html
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}">{}</svg>', width, height, title, body
    )


def _n(value: float) -> str:
    return f"{value:.1f}"


def _fmt(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1_000:
        return f"{value / 1_000:.1f}k"
    if value and value < 1:
        return f"{value:.4f}"
    return f"{value:g}"
