"""The context-window overview: what the agent's next LLM call would carry, section by section, in tokens.

Computed here once; the API (`api.wire.context`, Letta's ContextWindowOverview) and the ADE's context panel
(`ade.context_window`) only present it. Read-only: a GET never writes (the stored compiled prompt is left alone)."""

from dataclasses import dataclass
from typing import Any

from django.db.models import Count

from agents.models import Agent, Message
from agents.runtime.context import (
    budget_for,
    compile_system,
    core_memory,
    in_context_messages,
    message_tokens,
    summary_message,
    text_tokens,
    tool_schemas,
    tools_tokens,
    window_estimate,
)
from agents.runtime.history import History
from memory.models import Passage

MEMORY_METADATA_TAG = "<memory_metadata>"  # where the compiled system message's external-memory summary begins


@dataclass(frozen=True)
class ContextOverview:
    """The compiled system message is `system` (all of it, `tokens_system`), which holds the memory blocks
    (`core_memory`) and ends with the external-memory summary; `tokens_system_prompt` is what is left of it."""

    window: int
    current: int
    messages: int
    recall: int
    archival: int
    system: str
    tokens_system: int
    core_memory: str
    tokens_core_memory: int
    external_memory_summary: str
    tokens_external_memory_summary: int
    summary: str
    tokens_summary: int
    functions: list[dict[str, Any]]
    tokens_functions: int
    tokens_messages: int

    @property
    def tokens_system_prompt(self) -> int:
        return max(0, self.tokens_system - self.tokens_core_memory - self.tokens_external_memory_summary)


def context_overview(*, agent: Agent) -> ContextOverview:
    model = agent.model
    system = compile_system(agent, store=False)  # a GET never writes
    tools, _ = tool_schemas(agent)
    history = History.of(agent)
    messages = in_context_messages(history, fresh=True)
    core, core_tokens = core_memory(agent, model)
    marker = system.rfind(MEMORY_METADATA_TAG)
    external = system[marker:] if marker >= 0 else ""
    counts = dict(Message.objects.filter(agent=agent).values_list("in_context").annotate(n=Count("id")))
    return ContextOverview(
        window=budget_for(agent, model).window,
        current=window_estimate(history, model, system, tools, messages),
        messages=len(messages),
        recall=sum(counts.values()),
        archival=Passage.objects.filter(agent_id=agent.id).count(),
        system=system,
        tokens_system=text_tokens(model, {"role": "system", "content": system}),
        core_memory=core,
        tokens_core_memory=core_tokens,
        external_memory_summary=external,
        tokens_external_memory_summary=text_tokens(model, {"role": "system", "content": external}) if external else 0,
        summary=agent.summary,
        tokens_summary=text_tokens(model, summary_message(agent.summary)) if agent.summary else 0,
        functions=tools,
        tokens_functions=tools_tokens(model, tools),
        tokens_messages=sum(message_tokens(model, m) for m in messages),
    )
