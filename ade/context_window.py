"""Token breakdown of an agent's context window by section, for the context panel.

agents.runtime.context.context_overview counts the compiled system message as one figure; the panel also wants the
memory blocks apart from the system prompt, so this splits them with the same tokenizer. Read-only apart from
what context_overview itself caches."""

from dataclasses import dataclass

from agents.models import Agent
from agents.runtime.context import context_overview, core_memory

COLORS = {
    "system": "#3056d3",
    "memory blocks": "#7c3aed",
    "summary": "#0e7490",
    "messages": "#e07a1f",
    "tool schemas": "#1a7f37",
}


@dataclass(frozen=True)
class Section:
    name: str
    tokens: int
    percent: float
    color: str


@dataclass(frozen=True)
class Breakdown:
    sections: list[Section]
    used: int
    limit: int
    messages: int
    recall: int
    archival: int

    @property
    def percent(self) -> float:
        return min(100.0, 100.0 * self.used / self.limit) if self.limit else 0.0

    @property
    def free(self) -> int:
        return max(0, self.limit - self.used)


def context_breakdown(agent: Agent) -> Breakdown:
    overview = context_overview(agent)
    _, block_tokens = core_memory(agent, agent.model)
    system_total = int(overview["num_tokens_system"])
    raw = {
        "system": max(0, system_total - block_tokens),
        "memory blocks": min(block_tokens, system_total),
        "summary": int(overview["num_tokens_summary_memory"]),
        "messages": int(overview["num_tokens_messages"]),
        "tool schemas": int(overview["num_tokens_functions_definitions"]),
    }
    limit = int(overview["context_window_size_max"])
    sections = [
        Section(name=name, tokens=tokens, percent=100.0 * tokens / limit if limit else 0.0, color=COLORS[name])
        for name, tokens in raw.items()
    ]
    return Breakdown(
        sections=sections,
        used=sum(raw.values()),
        limit=limit,
        messages=int(overview["num_messages"]),
        recall=int(overview["num_recall_memory"]),
        archival=int(overview["num_archival_memory"]),
    )
