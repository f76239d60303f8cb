import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from rest_framework.exceptions import NotFound

from agents.models import Agent, Message, MessageRole, RunStatus, StopReason
from agents.runtime.waiting import run_wait
from agents.services.runs import run_create
from lib.ids import parse_id


def find_agent(ref: str) -> Agent:
    """An agent by `agent-<uuid>`, bare uuid, or (unique) name. Operators run this; it is not tenant-scoped."""
    try:
        return Agent.objects.get(pk=parse_id("agent", ref))
    except (NotFound, Agent.DoesNotExist):
        pass
    matches = list(Agent.objects.filter(name=ref)[:2])
    if not matches:
        raise CommandError(f"no agent with id or name {ref!r}")
    if len(matches) > 1:
        raise CommandError(f"several agents are named {ref!r}; use the id")
    return matches[0]


def print_memory(agent: Agent, out: OutputWrapper) -> None:
    for block in agent.blocks.order_by("agentblock__created_at"):
        out.write(
            f"[{block.label}] ({len(block.value)}/{block.limit} chars{', read-only' if block.read_only else ''})\n"
        )
        out.write(f"{block.value}\n\n")
    if agent.summary:
        out.write(f"[summary of evicted messages]\n{agent.summary}\n")


def print_run_messages(run_id: uuid.UUID, out: OutputWrapper, style: Any) -> None:
    for message in Message.objects.filter(run_id=run_id).exclude(role=MessageRole.USER).order_by("seq"):
        if message.reasoning:
            out.write(style.HTTP_INFO(f"  (thinking) {message.reasoning}") + "\n")
        if message.role == MessageRole.ASSISTANT:
            for call in message.tool_calls:
                function = call.get("function", {})
                if function.get("name") == "send_message":
                    continue
                out.write(style.WARNING(f"  → {function.get('name')}({function.get('arguments')})") + "\n")
            if message.text:
                out.write(style.SUCCESS(f"agent> {message.text}") + "\n")
        elif message.role == MessageRole.TOOL and message.name != "send_message":
            text = message.text if len(message.text) < 500 else message.text[:500] + "…"
            marker = style.ERROR("  ✗ ") if message.is_err else "  ← "
            out.write(f"{marker}{text}\n")


class Command(BaseCommand):
    help = "Chat with an agent in the terminal. /memory prints core memory, /quit leaves."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("agent", help="agent id (agent-<uuid>) or name")
        parser.add_argument("--max-steps", type=int, default=50)

    def handle(self, *args: Any, **options: Any) -> None:
        agent = find_agent(options["agent"])
        self.stdout.write(f"Chatting with {agent.name} ({agent.model}, {agent.agent_type}). /memory, /quit\n")
        while True:
            try:
                line = input("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                self.stdout.write("\n")
                return
            if not line:
                continue
            if line in ("/quit", "/exit"):
                return
            if line == "/memory":
                agent.refresh_from_db()
                print_memory(agent, self.stdout)
                continue
            run = run_create(
                actor=None, agent=agent, messages=[{"role": "user", "content": line}], max_steps=options["max_steps"]
            )
            run = run_wait(
                run_id=run.id, timeout=settings.ENGRAM_LLM_TIMEOUT * (settings.ENGRAM_LLM_MAX_RETRIES + 2) * 2
            )
            print_run_messages(run.id, self.stdout, self.style)
            if run.status != RunStatus.COMPLETED or run.stop_reason not in (StopReason.END_TURN, ""):
                detail = f": {run.error}" if run.error else ""
                self.stdout.write(
                    self.style.ERROR(f"[run {run.status}, {run.stop_reason or 'no stop reason'}{detail}]") + "\n"
                )
