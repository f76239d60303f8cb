"""The context window: what one LLM request contains, and compaction when it would not fit.

Request = compiled system message (system prompt + rendered memory blocks + memory metadata) + the running
summary (if any) + the in-context messages, sent with the agent's tool schemas.

Invariant: a request's prompt tokens plus the reserved output tokens never exceed the budget, which is the
agent's context_window_limit or the model's window if smaller. Past the compaction threshold (≈90%) the oldest
messages are evicted (never separating a tool call from its returns), folded into the summary by the LLM, and
stay in recall memory (in_context=False)."""

import hashlib
import json
import logging
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from agents.content import UNREADABLE_IMAGE, image_url
from agents.messages import calls_for_model
from agents.models import Agent, AgentType, Message, MessageRole, StopReason, Tool
from agents.runtime import events, llm
from agents.runtime.history import History
from agents.tools.validate import parameters_problem
from files.windows import render_directories
from memory.models import Block, Passage

logger = logging.getLogger(__name__)

JSON = dict[str, Any]
SUMMARY_PREFIX = (
    "Note: earlier messages of this conversation were moved out of your context window to save space. They are "
    "still in recall memory (conversation_search finds them). Summary of them:\n"
)
SUMMARIZER_SYSTEM = (
    "You maintain the running summary of a conversation between an AI agent and a user. Merge the previous "
    "summary and the new messages into one concise summary in plain text. Keep facts about the user, decisions, "
    "open tasks and anything the agent may need later; drop small talk. Reply with the summary only."
)
MIN_KEEP_MESSAGES = 1


# -- rendering -------------------------------------------------------------------------------------------


def render_blocks(blocks: list[Block]) -> str:
    parts = ["<memory_blocks>", "The following memory blocks are currently engaged in your core memory unit:", ""]
    for block in blocks:
        parts += [
            f"<{block.label}>",
            "<description>",
            block.description,
            "</description>",
            "<metadata>",
            *(["- read_only=true"] if block.read_only else []),
            f"- chars_current={len(block.value)}",
            f"- chars_limit={block.limit}",
            "</metadata>",
            "<value>",
            block.value,
            "</value>",
            f"</{block.label}>",
            "",
        ]
    parts.append("</memory_blocks>")
    return "\n".join(parts)


def _memory_metadata(agent: Agent) -> str:
    recall = Message.objects.filter(agent=agent, seq__isnull=False).count()
    in_context = Message.objects.filter(agent=agent, in_context=True).count()
    archival = Passage.objects.filter(agent_id=agent.id).count()
    tags: set[str] = set()
    for row in Passage.objects.filter(agent_id=agent.id).values_list("tags", flat=True)[:1000]:
        tags.update(row or [])
    lines = [
        "<memory_metadata>",
        f"- {max(0, recall - in_context)} previous messages between you and the user are stored in recall memory "
        "(use conversation_search to access them)",
        f"- {archival} total memories you created are stored in archival memory (use archival_memory_search to "
        "access them)",
    ]
    if tags:
        lines.append(f"- Available archival memory tags: {', '.join(sorted(tags)[:50])}")
    lines.append("</memory_metadata>")
    return "\n".join(lines)


def compile_system(agent: Agent, blocks: list[Block] | None = None, *, store: bool = True, force: bool = False) -> str:
    """The system message. Recompiled (and stored on the agent) only when the prompt or the memory blocks
    changed, so the prefix stays byte-identical between steps and provider prompt caches stay warm. `store=False`
    (read-only callers such as the context overview) compiles without writing; `force` recompiles even when
    nothing changed (fresh memory metadata counts; POST /agents/{id}/recompile)."""
    if blocks is None:
        blocks = list(agent.blocks.order_by("agentblock__created_at", "agentblock__id"))
    rendered = render_blocks(blocks)
    directories = render_directories(agent_id=agent.id, organization_id=agent.organization_id)
    if directories:  # the agent's folders and open files (files.windows): part of the digest, so opening recompiles
        rendered = f"{rendered}\n\n{directories}"
    digest = hashlib.sha256(f"{agent.system}\x00{rendered}".encode()).hexdigest()
    if not force and digest == agent.compiled_hash and agent.compiled_system:
        return agent.compiled_system
    compiled = f"{agent.system}\n\n{rendered}\n\n{_memory_metadata(agent)}"
    if store:
        Agent.objects.filter(pk=agent.pk).update(compiled_system=compiled, compiled_hash=digest)
        agent.compiled_system, agent.compiled_hash = compiled, digest
    return compiled


def tool_schemas(agent: Agent) -> tuple[list[JSON], dict[str, Tool]]:
    """OpenAI `tools` for the agent and its tools by name. memgpt tools (but send_message) get request_heartbeat."""
    tools = {t.name: t for t in agent.tools.all()}
    out = []
    for name in sorted(tools):
        schema = json.loads(json.dumps(tools[name].json_schema)) or {"name": name, "parameters": {}}
        if not isinstance(schema, dict):
            schema = {"name": name}
        if parameters_problem(schema.get("parameters", {})):
            # Stored before such schemas were refused: the model sees a tool without arguments, and calling it
            # gets the executor's error naming the bad schema.
            schema["parameters"] = {"type": "object", "properties": {}, "required": []}
        schema.setdefault("parameters", {"type": "object", "properties": {}, "required": []})
        if agent.agent_type == AgentType.MEMGPT and name != "send_message":
            params = schema["parameters"]
            params.setdefault("properties", {})["request_heartbeat"] = {
                "type": "boolean",
                "description": "Request an immediate heartbeat after the function runs: set to true to keep working "
                "(e.g. to call another function or to reply) before control returns to the user.",
            }
            required = params.setdefault("required", [])
            if "request_heartbeat" not in required:
                required.append("request_heartbeat")
        out.append({"type": "function", "function": schema})
    return out, tools


@dataclass(frozen=True)
class CtxMessage:
    """What the context needs of an in-context message (cached per agent; messages are immutable once written)."""

    id: uuid.UUID
    seq: int
    role: str
    payload: JSON  # the message as sent to the model
    transcript: str  # one line for the summarizer
    key: str = ""  # id + digest of the payload: token counts are cached by it, so an edited message is recounted

    @classmethod
    def of(cls, message: Message) -> "CtxMessage":
        payload = message_to_openai(message)
        digest = hashlib.blake2b(json.dumps(payload, sort_keys=True).encode(), digest_size=8).hexdigest()
        return cls(
            id=message.id,
            seq=message.seq or 0,
            role=message.role,
            payload=payload,
            transcript=_transcript_line(message),
            key=f"{message.id}:{digest}",
        )


def message_to_openai(message: Message) -> JSON:
    # Content is read defensively: rows written before content parts were checked may hold any JSON.
    stored = message.content if isinstance(message.content, list) else []
    parts = [p for p in stored if isinstance(p, dict)]
    if message.role == MessageRole.TOOL:
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.text}
    if message.role == MessageRole.ASSISTANT:
        content = "\n".join(_part_text(p) for p in parts if p.get("type") == "text")
        out: JSON = {"role": "assistant", "content": content or None}
        if message.tool_calls:
            out["tool_calls"] = calls_for_model(message.tool_calls)
        return out
    parts = parts or [{"type": "text", "text": message.text}]
    if all(p.get("type") != "image" for p in parts):
        return {"role": message.role, "content": "\n".join(_part_text(p) for p in parts if p.get("type") == "text")}
    converted: list[JSON] = []
    for part in parts:
        if part.get("type") == "text":
            converted.append({"type": "text", "text": _part_text(part)})
        elif part.get("type") == "image":
            url = image_url(part.get("source"))
            if url is None:
                converted.append({"type": "text", "text": UNREADABLE_IMAGE})
            else:
                converted.append({"type": "image_url", "image_url": {"url": url}})
    return {"role": message.role, "content": converted}


def _part_text(part: JSON) -> str:
    text = part.get("text")
    return text if isinstance(text, str) else ""


def summary_message(summary: str) -> JSON:
    return {"role": "user", "content": SUMMARY_PREFIX + summary}


# -- token accounting (cached per message: the in-context window changes by a few messages per step) --------

_cache_lock = threading.Lock()
_token_cache: "OrderedDict[tuple[str, str], int]" = OrderedDict()
_CACHE_SIZE = 50_000


def _cached_count(model: str, key: str, compute: Any) -> int:
    with _cache_lock:
        value = _token_cache.get((model, key))
        if value is not None:
            _token_cache.move_to_end((model, key))
            return value
    value = int(compute())
    with _cache_lock:
        _token_cache[(model, key)] = value
        if len(_token_cache) > _CACHE_SIZE:
            _token_cache.popitem(last=False)
    return value


def message_tokens(model: str, message: CtxMessage) -> int:
    return _cached_count(
        model, f"m:{message.key or message.id}", lambda: llm.count_tokens(model, messages=[message.payload])
    )


def text_tokens(model: str, payload: JSON) -> int:
    key = "p:" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return _cached_count(model, key, lambda: llm.count_tokens(model, messages=[payload]))


def tools_tokens(model: str, tools: list[JSON]) -> int:
    if not tools:
        return 0
    key = "t:" + hashlib.sha256(json.dumps(tools, sort_keys=True).encode()).hexdigest()
    return _cached_count(model, key, lambda: llm.count_tokens(model, tools=tools))


# -- budget ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    window: int  # min(agent limit, model window)
    output: int  # tokens reserved for the reply (sent as max_tokens)

    @property
    def prompt(self) -> int:
        return self.window - self.output


def budget_for(agent: Agent, model: str, *, limit: int | None = None) -> Budget:
    """`limit`: a conversation's own context_window_limit, instead of the agent's."""
    window = limit or agent.context_window_limit
    known = llm.model_window(model)
    if known:
        window = min(window, known)
    configured = agent.model_settings.get("max_tokens") or agent.model_settings.get("max_output_tokens")
    output = int(configured) if configured else min(4096, max(64, window // 8))
    output = min(output, window // 2)
    return Budget(window=window, output=output)


@dataclass
class Context:
    system: str
    messages: list[CtxMessage]
    tools: list[JSON]
    tools_by_name: dict[str, Tool]
    budget: Budget
    tokens: int  # estimated prompt tokens (an upper bound: each message is counted on its own)
    summary: str = ""  # the history's running summary

    def request_messages(self, summary: str) -> list[JSON]:
        out: list[JSON] = [{"role": "system", "content": self.system}]
        if summary:
            out.append(summary_message(summary))
        out += [m.payload for m in self.messages]
        return out


class ContextTooSmall(llm.LLMError):
    """Even with every message evicted, the system prompt, tools and summary do not fit the window."""

    stop_reason = StopReason.CONTEXT_WINDOW_OVERFLOW_IN_SYSTEM_PROMPT


def window_estimate(history: History, model: str, system: str, tools: list[JSON], messages: list[CtxMessage]) -> int:
    total = text_tokens(model, {"role": "system", "content": system}) + tools_tokens(model, tools)
    if history.summary:
        total += text_tokens(model, summary_message(history.summary))
    return total + messages_tokens(model, messages, version=history.version)


# (model, id of the first message, the agent's context_version) → (number of messages counted, key of the last
# one, their total). An edit of an in-context message bumps context_version, so its window is summed again.
_totals: "OrderedDict[tuple[str, uuid.UUID, int], tuple[int, str, int]]" = OrderedDict()


def messages_tokens(model: str, messages: list[CtxMessage], *, version: int = 0) -> int:
    """Sum of the messages' token counts; a window that only grew at its end is not summed again."""
    if not messages:
        return 0
    key = (model, messages[0].id, version)
    with _cache_lock:
        known = _totals.get(key)
    start, total = 0, 0
    if known is not None and known[0] <= len(messages) and messages[known[0] - 1].key == known[1]:
        start, total = known[0], known[2]
    total += sum(message_tokens(model, m) for m in messages[start:])
    with _cache_lock:
        _totals[key] = (len(messages), messages[-1].key, total)
        _totals.move_to_end(key)
        if len(_totals) > 10_000:
            _totals.popitem(last=False)
    return total


_window_lock = threading.Lock()
# (agent id, conversation id) → (context_version, last seq loaded, in-context messages). Per process; checked
# against the database's context_version on every read, so evictions made by any process invalidate it.
_windows: "OrderedDict[tuple[uuid.UUID, uuid.UUID | None], tuple[int, int, list[CtxMessage]]]" = OrderedDict()
_WINDOWS_KEPT = 1_000  # agents whose window a process keeps (least recently used are dropped)


def in_context_messages(history: History, *, fresh: bool = False) -> list[CtxMessage]:
    """The history's context window in order. Only messages newer than the cached copy are read from the
    database, so a step's cost does not grow with the window (nor with the history). `fresh`: the history's
    version and summary were read just now, so they are not read again."""
    if not fresh:
        history.refresh()
    version = history.version
    with _window_lock:
        cached = _windows.get(history.key)
    if cached is None or cached[0] != version:
        cached = (version, 0, [])
    _, last_seq, messages = cached
    rows = history.messages().filter(in_context=True, seq__gt=last_seq).order_by("seq")
    new = [CtxMessage.of(m) for m in rows]
    if new:
        messages = [*messages, *new]
        last_seq = new[-1].seq
    with _window_lock:
        _windows[history.key] = (version, last_seq, messages)
        _windows.move_to_end(history.key)
        if len(_windows) > _WINDOWS_KEPT:
            _windows.popitem(last=False)
    return list(messages)


def forget_window(agent_id: uuid.UUID, conversation_id: uuid.UUID | None = None) -> None:
    with _window_lock:
        _windows.pop((agent_id, conversation_id), None)


def prepare(
    history: History, *, model: str, run_id: uuid.UUID | None, force_compact: bool = False, fresh: bool = False
) -> Context:
    """Compile the context for the next request of the history, compacting first when it passes the threshold
    (or when forced after a provider overflow error). Raises ContextTooSmall when nothing more can be evicted."""
    agent = history.agent
    system = compile_system(agent)
    tools, tools_by_name = tool_schemas(agent)
    budget = budget_for(agent, model, limit=history.window_limit)
    messages = in_context_messages(history, fresh=fresh)
    tokens = window_estimate(history, model, system, tools, messages)
    threshold = settings.ENGRAM_COMPACTION_THRESHOLD * budget.prompt
    if force_compact or tokens > threshold:
        # Forced (a provider overflow, or a summarize request): our estimate was not enough, so halve what we send.
        target = min(budget.prompt * 0.4, tokens * 0.5) if force_compact else budget.prompt * 0.6
        messages = compact(history, model=model, run_id=run_id, messages=messages, target=target, budget=budget)
        system = compile_system(agent)
        tokens = window_estimate(history, model, system, tools, messages)
    if tokens > budget.prompt:
        raise ContextTooSmall(
            f"the request needs {tokens} tokens but the window allows {budget.prompt} "
            f"({budget.window} minus {budget.output} reserved for the reply)"
        )
    return Context(
        system=system,
        messages=messages,
        tools=tools,
        tools_by_name=tools_by_name,
        budget=budget,
        tokens=tokens,
        summary=history.summary,
    )


# -- compaction ----------------------------------------------------------------------------------------------


def _cut_points(messages: list[CtxMessage]) -> list[int]:
    """Indexes k where messages[:k] can be evicted without leaving a tool return without its call."""
    return [k for k in range(1, len(messages)) if messages[k].role != MessageRole.TOOL]


def compact(
    history: History,
    *,
    model: str,
    run_id: uuid.UUID | None,
    messages: list[CtxMessage],
    target: float,
    budget: Budget,
) -> list[CtxMessage]:
    """Evict the oldest in-context messages until the estimate is at most `target` tokens (keeping at least the
    newest message), fold them into the history's running summary, and return the messages that stay."""
    agent = history.agent
    system = compile_system(agent)
    tools, _ = tool_schemas(agent)
    before = window_estimate(history, model, system, tools, messages)
    # Leave room for the summary that replaces the evicted messages.
    summary_room = summary_budget(budget)
    fixed = before - messages_tokens(model, messages, version=history.version)
    fixed -= text_tokens(model, summary_message(history.summary)) if history.summary else 0
    cut = None
    remaining = messages_tokens(model, messages, version=history.version)
    evicted_tokens, counted = 0, 0
    for k in _cut_points(messages):
        evicted_tokens += sum(message_tokens(model, m) for m in messages[counted:k])
        counted = cut = k
        if fixed + summary_room + remaining - evicted_tokens <= target:
            break
    if cut is None or len(messages) - cut < MIN_KEEP_MESSAGES:
        return messages
    evicted, kept = messages[:cut], messages[cut:]
    summary = summarize(agent, model=model, previous=history.summary, messages=evicted, budget=budget)
    with transaction.atomic():
        Message.objects.filter(pk__in=[m.id for m in evicted]).update(in_context=False)
        history.summary_store(summary)
        forget_window(agent.id, history.conversation_id)
        after = window_estimate(history, model, system, tools, kept)
        events.compaction(
            agent_id=agent.id,
            run_id=run_id,
            evicted=len(evicted),
            tokens_before=before,
            tokens_after=after,
            summary=summary,
        )
    logger.info("agent %s: compacted %d messages (%d → %d tokens)", agent.id, len(evicted), before, after)
    return kept


def summary_budget(budget: Budget) -> int:
    return max(32, min(1024, budget.window // 10))


def _transcript_line(message: Message) -> str:
    if message.role == MessageRole.TOOL:
        return f"[tool result {message.name}] {message.text}"
    if message.role == MessageRole.ASSISTANT:
        calls = ", ".join(f"{c['function']['name']}({c['function']['arguments']})" for c in message.tool_calls)
        text = message.text or message.reasoning
        return f"[assistant] {text}" + (f" (called {calls})" if calls else "")
    return f"[{message.role}] {message.text}"


def summarize(agent: Agent, *, model: str, previous: str, messages: list[CtxMessage], budget: Budget) -> str:
    """Fold `messages` into `previous` with the summarizer model (compaction_settings.model, else
    ENGRAM_SUMMARIZER_MODEL, else the agent's model). Each summarizer request fits the same window; a long
    eviction is folded in chunks. If the summarizer fails, a clipped extract keeps the run going."""
    summarizer = agent.compaction_settings.get("model") or settings.ENGRAM_SUMMARIZER_MODEL or model
    out_tokens = summary_budget(budget)
    max_chars = out_tokens * 4
    prompt = agent.compaction_settings.get("prompt") or SUMMARIZER_SYSTEM
    overhead = llm.count_tokens(summarizer, messages=[{"role": "system", "content": prompt}]) + 64
    chunk_room = max(
        64,
        budget.window
        - out_tokens
        - overhead
        - llm.count_tokens(summarizer, messages=[{"role": "user", "content": previous}]),
    )
    lines = [m.transcript for m in messages]
    summary = previous
    while lines:
        chunk: list[str] = []
        room = chunk_room - (len(summary) // 3)
        while (
            lines
            and llm.count_tokens(summarizer, messages=[{"role": "user", "content": "\n".join([*chunk, lines[0]])}])
            <= room
        ):
            chunk.append(lines.pop(0))
        if not chunk:  # a single line larger than the room: clip it
            chunk.append(lines.pop(0)[: max(100, room * 3)])
        request = llm.build_request(
            model=summarizer,
            messages=[
                {"role": "system", "content": prompt},
                {
                    "role": "user",
                    "content": f"<previous_summary>\n{summary}\n</previous_summary>\n<new_messages>\n"
                    + "\n".join(chunk)
                    + "\n</new_messages>",
                },
            ],
            tools=[],
            model_settings={},
            max_tokens=out_tokens,
            tool_choice=None,
        )
        try:
            response = llm.complete(request, api_base=llm.api_base_for(summarizer, agent.model_settings))
            summary = response.content.strip() or summary
        except llm.LLMError:
            logger.warning("summarizer failed for agent %s; keeping an extract", agent.id, exc_info=True)
            summary = f"{summary}\n" + "\n".join(chunk)
        summary = summary[-max_chars:] if len(summary) > max_chars else summary
    return summary


def core_memory(agent: Agent, model: str) -> tuple[str, int]:
    """The rendered memory blocks (the part of the system message the agent edits) and their token count."""
    blocks = list(Block.objects.filter(agentblock__agent=agent).order_by("agentblock__created_at", "agentblock__id"))
    if not blocks:
        return "", 0
    rendered = render_blocks(blocks)
    return rendered, text_tokens(model, {"role": "system", "content": rendered})
