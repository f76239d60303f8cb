"""Token breakdown of an agent's context window by section, for the context panel: a presentation of
agents.runtime.overview (computed there once, for the API too). The panel shows the memory blocks apart and keeps
the external-memory summary inside the system section. Read-only apart from what the overview itself caches."""

from dataclasses import dataclass

from agents.models import Agent
from agents.runtime.overview import context_overview

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
    overview = context_overview(agent=agent)
    raw = {
        "system": max(0, overview.tokens_system - overview.tokens_core_memory),
        "memory blocks": min(overview.tokens_core_memory, overview.tokens_system),
        "summary": overview.tokens_summary,
        "messages": overview.tokens_messages,
        "tool schemas": overview.tokens_functions,
    }
    limit = overview.window
    sections = [
        Section(name=name, tokens=tokens, percent=100.0 * tokens / limit if limit else 0.0, color=COLORS[name])
        for name, tokens in raw.items()
    ]
    return Breakdown(
        sections=sections,
        used=sum(raw.values()),
        limit=limit,
        messages=overview.messages,
        recall=overview.recall,
        archival=overview.archival,
    )
