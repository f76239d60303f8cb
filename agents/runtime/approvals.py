"""The loop's side of approvals and client-side tools (pure; the writes are agents.services.approvals): which
calls are held for an answer, the client tools offered, and what an answer turns into for the model."""

from typing import Any

from agents.messages import HELD_MARK
from agents.runtime.tool_rules import approval_tools
from agents.services.approvals import denial_text

JSON = dict[str, Any]
__all__ = ["HELD_MARK", "answer_result", "held_tools", "offer_client_tools"]


def held_tools(tool_rules: Any, client_tools: list[JSON]) -> tuple[set[str], set[str]]:
    """(every tool name whose calls stop the run, the client-side ones among them)."""
    client = {t["name"] for t in client_tools}
    return approval_tools(tool_rules) | client, client


def offer_client_tools(
    tools: list[JSON], tool_choice: str | JSON | None, client_tools: list[JSON], memgpt: bool
) -> tuple[list[JSON], str | JSON | None]:
    """The request's tools with the send's client tools added (a client tool shadows an agent tool of its name)."""
    names = {t["name"] for t in client_tools}
    offered = [t for t in tools if t["function"]["name"] not in names]
    offered += [{"type": "function", "function": dict(t)} for t in client_tools]
    if tool_choice is None:
        tool_choice = "required" if memgpt else "auto"
    return offered, tool_choice


def answer_result(answer: JSON) -> tuple[str, bool] | None:
    """(tool result text, is_err) of a denial or a client's result; None for an approval (the server runs it)."""
    if answer["type"] == "tool":
        return str(answer["tool_return"]), answer["status"] == "error"
    if not answer["approve"]:
        return denial_text(answer.get("reason") or ""), True
    return None
