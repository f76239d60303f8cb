import random
import zoneinfo
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.selectors import organization_id_for
from agents.model_settings import MODEL_SETTING_KEYS
from agents.models import Agent, AgentBlock, AgentSecret, AgentTag, AgentTool, AgentType, Tool
from agents.prompts import default_system
from agents.quotas import agents_quota_check
from agents.runtime.tool_rules import clean as clean_tool_rules
from agents.services.identities import agent_identities_set, identities_of
from agents.services.tools import clean_tool_environment, tool_ids_for_names
from agents.tools.builtin import BASE_TOOLS_MEMGPT, BASE_TOOLS_V1
from lib.crypto import encrypt
from lib.providers import api_base_clean, handle_clean
from memory.embeddings import resolve_model
from memory.models import Block
from memory.services.blocks import block_create
from memory.services.embedding_dispatch import agent_reembed_start

# Letta's wire names map to Engram's types; the name the client used is echoed back (agent_type_alias).
AGENT_TYPE_ALIASES = {
    "v1": AgentType.V1,
    "letta_v1_agent": AgentType.V1,
    "react_agent": AgentType.V1,
    "memgpt": AgentType.MEMGPT,
    "memgpt_agent": AgentType.MEMGPT,
    "memgpt_v2_agent": AgentType.MEMGPT,
}
MIN_CONTEXT_WINDOW = 1_000
MAX_CONTEXT_WINDOW = 10_000_000
_ADJECTIVES = [
    "amber",
    "brave",
    "calm",
    "clever",
    "eager",
    "gentle",
    "golden",
    "keen",
    "lively",
    "lucid",
    "mellow",
    "nimble",
    "quiet",
    "rapid",
    "steady",
    "swift",
]
_NOUNS = [
    "badger",
    "comet",
    "falcon",
    "harbor",
    "heron",
    "lantern",
    "maple",
    "meadow",
    "otter",
    "quartz",
    "raven",
    "river",
    "sparrow",
    "willow",
]


def agent_name_generate() -> str:
    rng = random.SystemRandom()
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randint(100, 999)}"


def _agent_type(raw: str | None) -> tuple[str, str]:
    if raw is None or raw == "":
        return AgentType.V1, ""
    if raw not in AGENT_TYPE_ALIASES:
        raise ValidationError({"agent_type": f"unknown agent type {raw!r}; use one of {', '.join(AGENT_TYPE_ALIASES)}"})
    return AGENT_TYPE_ALIASES[raw], raw


MAX_HANDLE_CHARS = 200  # model and embedding handles, and tags: their columns' length


def _clean_embedding(embedding: Any) -> str:
    if not isinstance(embedding, str) or len(embedding.strip()) > MAX_HANDLE_CHARS:
        raise ValidationError({"embedding": f"must be a model handle of at most {MAX_HANDLE_CHARS} characters"})
    return handle_clean(embedding.strip(), field="embedding")


def _clean_model(model: Any) -> str:
    if not isinstance(model, str) or not model.strip():
        raise ValidationError({"model": "must be a model handle such as openai/gpt-4o-mini"})
    handle: str = model.strip()
    if len(handle) > MAX_HANDLE_CHARS:
        raise ValidationError({"model": f"at most {MAX_HANDLE_CHARS} characters"})
    if "/" not in handle:
        raise ValidationError({"model": f"{handle!r} is not a provider/model handle (e.g. openai/gpt-4o-mini)"})
    return handle_clean(handle, field="model")


def _clean_compaction_settings(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError({"compaction_settings": "must be an object"})
    model = value.get("model")
    if model is not None and (not isinstance(model, str) or len(model) > MAX_HANDLE_CHARS):
        raise ValidationError(
            {"compaction_settings.model": f"must be a model handle of at most {MAX_HANDLE_CHARS} characters"}
        )
    if model:
        handle_clean(model, field="compaction_settings.model")
    return value


def _clean_model_settings(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError({"model_settings": "must be an object"})
    unknown = set(value) - MODEL_SETTING_KEYS
    if unknown:
        raise ValidationError({"model_settings": f"unknown setting(s): {', '.join(sorted(unknown))}"})
    temperature = value.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 2):
        raise ValidationError({"model_settings": "temperature must be a number between 0 and 2"})
    for key in ("max_tokens", "max_output_tokens"):
        tokens = value.get(key)
        if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens <= 0):
            raise ValidationError({"model_settings": f"{key} must be a positive integer"})
    cleaned = dict(value)
    # The server's provider key goes with the request, so only an endpoint the operator configured is accepted.
    api_base = api_base_clean(value.get("api_base"), field="model_settings.api_base")
    cleaned.pop("api_base", None)
    if api_base:
        cleaned["api_base"] = api_base
    return cleaned


def _clean_context_window(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_CONTEXT_WINDOW <= value <= MAX_CONTEXT_WINDOW:
        raise ValidationError(
            {"context_window_limit": f"must be an integer between {MIN_CONTEXT_WINDOW} and {MAX_CONTEXT_WINDOW}"}
        )
    return value


def _clean_timezone(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError({"timezone": "must be an IANA time zone name"})
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError({"timezone": f"unknown time zone {value!r}"}) from None
    return value


def _clean_tags(tags: Any) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise ValidationError({"tags": "must be a list of non-empty strings"})
    if any(len(t.strip()) > MAX_HANDLE_CHARS for t in tags):
        raise ValidationError({"tags": f"each tag has at most {MAX_HANDLE_CHARS} characters"})
    return sorted({t.strip() for t in tags})


def _set_tags(agent: Agent, tags: list[str]) -> None:
    AgentTag.objects.filter(agent=agent).exclude(tag__in=tags).delete()
    have = set(AgentTag.objects.filter(agent=agent).values_list("tag", flat=True))
    AgentTag.objects.bulk_create(
        [AgentTag(agent=agent, organization_id=agent.organization_id, tag=t) for t in tags if t not in have]
    )


def _set_secrets(agent: Agent, secrets: dict[str, str]) -> None:
    """The agent's secrets become exactly `secrets` (values encrypted at rest)."""
    AgentSecret.objects.filter(agent=agent).exclude(key__in=list(secrets)).delete()
    have = {row.key: row for row in AgentSecret.objects.filter(agent=agent)}
    for key, value in secrets.items():
        row = have.get(key) or AgentSecret(agent=agent, organization_id=agent.organization_id, key=key)
        row.value_encrypted = encrypt(value)
        row.save()


def _check_unique_labels(blocks: list[Block]) -> None:
    seen: set[str] = set()
    for block in blocks:
        if block.label in seen:
            raise ValidationError({"memory_blocks": f"two blocks have the label {block.label!r}"})
        seen.add(block.label)


@transaction.atomic
def agent_create(
    *,
    actor: User,
    name: str | None = None,
    agent_type: str | None = None,
    system: str | None = None,
    model: str | None = None,
    embedding: str | None = None,
    memory_blocks: list[dict[str, Any]] | None = None,
    block_ids: list[Any] | None = None,
    tools: list[str] | None = None,
    tool_ids: list[Any] | None = None,
    include_base_tools: bool = True,
    include_base_tool_rules: bool | None = None,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    description: str | None = None,
    context_window_limit: int | None = None,
    model_settings: dict[str, Any] | None = None,
    compaction_settings: dict[str, Any] | None = None,
    tool_rules: list[dict[str, Any]] | None = None,
    timezone: str | None = None,
    secrets: dict[str, str] | None = None,
    identity_ids: list[Any] | None = None,
) -> Agent:
    """Create an agent with its blocks and tools, all or nothing. Errors are ValidationError({field: reason}).

    `agent_type` takes Engram's ('v1', 'memgpt') or Letta's wire names; `agent_type_alias` keeps the name the client
    used, to echo it back. Base tools (`include_base_tools`): v1 → conversation_search, memory_insert, memory_replace;
    memgpt → send_message, core_memory_append, core_memory_replace, conversation_search; plus `tools` by name (the
    organization's own first, then built-ins). `include_base_tool_rules` puts Letta's base tool rules on them."""
    org_id = organization_id_for(actor)
    kind, alias = _agent_type(agent_type)
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 200):
        raise ValidationError({"name": "must be a non-empty string of at most 200 characters"})
    if metadata is not None and not isinstance(metadata, dict):
        raise ValidationError({"metadata": "must be an object"})
    if system is not None and not isinstance(system, str):
        raise ValidationError({"system": "must be a string"})
    if compaction_settings is not None:
        compaction_settings = _clean_compaction_settings(compaction_settings)
    agent = Agent(
        organization_id=org_id,
        created_by=actor,
        name=name.strip() if name else agent_name_generate(),
        description=description or "",
        agent_type=kind,
        agent_type_alias=alias,
        system=system if system else default_system(kind),
        model=_clean_model(model or settings.ENGRAM_DEFAULT_MODEL),
        model_settings=_clean_model_settings(model_settings),
        embedding=_clean_embedding(embedding) if embedding else settings.ENGRAM_DEFAULT_EMBEDDING,
        tool_rules=clean_tool_rules(tool_rules),
        metadata=metadata or {},
        timezone=_clean_timezone(timezone or "UTC"),
        compaction_settings=compaction_settings or {},
    )
    if context_window_limit is not None:
        agent.context_window_limit = _clean_context_window(context_window_limit)
    cleaned_secrets = clean_tool_environment(secrets, "secrets") if secrets is not None else {}
    agents_quota_check(organization_id=org_id)
    agent.save()
    _set_tags(agent, _clean_tags(tags))
    _set_secrets(agent, cleaned_secrets)

    blocks: list[Block] = []
    for index, spec in enumerate(memory_blocks or []):
        if not isinstance(spec, dict):
            raise ValidationError({"memory_blocks": f"item {index} must be an object"})
        unknown = set(spec) - {"label", "value", "limit", "description", "read_only", "metadata", "tags"}
        if unknown:
            raise ValidationError({"memory_blocks": f"item {index}: unknown field(s) {', '.join(sorted(unknown))}"})
        try:
            blocks.append(block_create(actor=actor, **spec))
        except ValidationError as exc:
            detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.message_dict.items())
            raise ValidationError({"memory_blocks": f"item {index}: {detail}"}) from None
        except TypeError:
            raise ValidationError({"memory_blocks": f"item {index} needs a label"}) from None
    for raw in block_ids or []:
        try:
            blocks.append(Block.objects.get(organization_id=org_id, pk=raw))
        except (Block.DoesNotExist, ValidationError, ValueError):
            raise ValidationError({"block_ids": f"block {raw} not found"}) from None
    _check_unique_labels(blocks)
    AgentBlock.objects.bulk_create([AgentBlock(agent=agent, block=b) for b in blocks])

    names: list[str] = []
    if include_base_tools:
        names += BASE_TOOLS_MEMGPT if kind == AgentType.MEMGPT else BASE_TOOLS_V1
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, str) for t in tools)):
        raise ValidationError({"tools": "must be a list of tool names"})
    names += [t for t in tools or [] if t not in names]
    if kind == AgentType.MEMGPT and "send_message" not in names:
        names.append("send_message")  # the memgpt loop cannot reply without it
    chosen = tool_ids_for_names(organization_id=org_id, names=names) if names else []
    for raw in tool_ids or []:
        try:
            tool = Tool.objects.get(pk=raw, organization_id__in=[org_id])
        except (Tool.DoesNotExist, ValidationError, ValueError):
            try:
                tool = Tool.objects.get(pk=raw, organization=None)
            except (Tool.DoesNotExist, ValidationError, ValueError):
                raise ValidationError({"tool_ids": f"tool {raw} not found"}) from None
        if tool not in chosen:
            chosen.append(tool)
    AgentTool.objects.bulk_create([AgentTool(agent=agent, tool=t) for t in chosen])
    if include_base_tool_rules:
        agent.tool_rules = with_base_tool_rules(agent.tool_rules, kind=kind, attached={t.name for t in chosen})
        agent.save(update_fields=["tool_rules"])
    if identity_ids:
        agent_identities_set(agent=agent, identities=identities_of(org_id, identity_ids))
    return agent


@transaction.atomic
def agent_update(
    *,
    agent: Agent,
    name: str | None = None,
    description: str | None = None,
    agent_type: str | None = None,
    system: str | None = None,
    model: str | None = None,
    embedding: str | None = None,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    context_window_limit: int | None = None,
    model_settings: dict[str, Any] | None = None,
    compaction_settings: dict[str, Any] | None = None,
    tool_rules: list[dict[str, Any]] | None = None,
    timezone: str | None = None,
    block_ids: list[Any] | None = None,
    tool_ids: list[Any] | None = None,
    secrets: dict[str, str] | None = None,
    include_base_tool_rules: bool | None = None,
    identity_ids: list[Any] | None = None,
) -> Agent:
    """Partial update: None leaves a field alone. block_ids / tool_ids / secrets / identity_ids replace the
    attached sets.
    include_base_tool_rules true adds the base tool rules of the (new) type for its attached base tools, false
    removes them (see with_base_tool_rules); applied after every other change.
    A new `agent_type` attaches that type's base tools (v1 drops send_message) and, when the system prompt was the
    old type's default, switches it to the new default; a new `embedding` starts agent_reembed_start after commit."""
    locked = Agent.objects.select_for_update().get(pk=agent.pk)
    if name is not None:
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ValidationError({"name": "must be a non-empty string of at most 200 characters"})
        locked.name = name.strip()
    if description is not None:
        locked.description = description
    type_changed = False
    if agent_type is not None:
        kind, alias = _agent_type(agent_type)
        if kind != locked.agent_type:
            if system in (None, locked.system) and locked.system == default_system(locked.agent_type):
                system = default_system(kind)  # a default prompt follows the type; a custom one is kept
            locked.agent_type = kind
            locked.compiled_hash = ""
            type_changed = True
        locked.agent_type_alias = alias
    if system is not None:
        locked.system = system
        locked.compiled_hash = ""  # recompile on the next step
    if model is not None:
        locked.model = _clean_model(model)
    embedding_changed = False
    if embedding is not None:
        embedding = _clean_embedding(embedding)
        embedding_changed = resolve_model(embedding) != resolve_model(locked.embedding)
        locked.embedding = embedding
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise ValidationError({"metadata": "must be an object"})
        locked.metadata = metadata
    if context_window_limit is not None:
        locked.context_window_limit = _clean_context_window(context_window_limit)
    if model_settings is not None:
        locked.model_settings = _clean_model_settings(model_settings)
    if compaction_settings is not None:
        locked.compaction_settings = _clean_compaction_settings(compaction_settings)
    if tool_rules is not None:
        locked.tool_rules = clean_tool_rules(tool_rules)
    if timezone is not None:
        locked.timezone = _clean_timezone(timezone)
    locked.save()
    if tags is not None:
        _set_tags(locked, _clean_tags(tags))
    if secrets is not None:
        _set_secrets(locked, clean_tool_environment(secrets, "secrets"))
    if block_ids is not None:
        blocks = []
        for raw in block_ids:
            try:
                blocks.append(Block.objects.get(organization_id=locked.organization_id, pk=raw))
            except (Block.DoesNotExist, ValidationError, ValueError):
                raise ValidationError({"block_ids": f"block {raw} not found"}) from None
        _check_unique_labels(blocks)
        AgentBlock.objects.filter(agent=locked).exclude(block__in=blocks).delete()
        have = set(AgentBlock.objects.filter(agent=locked).values_list("block_id", flat=True))
        AgentBlock.objects.bulk_create([AgentBlock(agent=locked, block=b) for b in blocks if b.pk not in have])
        locked.compiled_hash = ""
        locked.save(update_fields=["compiled_hash"])
    if tool_ids is not None:
        tools = [_tool_for(locked, raw) for raw in tool_ids]
        AgentTool.objects.filter(agent=locked).exclude(tool__in=tools).delete()
        have = set(AgentTool.objects.filter(agent=locked).values_list("tool_id", flat=True))
        AgentTool.objects.bulk_create([AgentTool(agent=locked, tool=t) for t in tools if t.pk not in have])
    if identity_ids is not None:
        agent_identities_set(agent=locked, identities=identities_of(locked.organization_id, identity_ids))
    if type_changed:
        _switch_base_tools(locked)
    if include_base_tool_rules is not None:
        attached = set(AgentTool.objects.filter(agent=locked).values_list("tool__name", flat=True))
        if include_base_tool_rules:
            locked.tool_rules = with_base_tool_rules(locked.tool_rules, kind=locked.agent_type, attached=attached)
        else:
            locked.tool_rules = without_base_tool_rules(locked.tool_rules)
        locked.save(update_fields=["tool_rules"])
    if embedding_changed:
        # Stored vectors were written by the old model: re-embed them after commit (progress: EmbeddingJob).
        agent_reembed_start(agent=locked)
    return locked


def base_tool_rules(*, kind: str, attached: set[str]) -> list[dict[str, Any]]:
    """Letta's base tool rules for the type's base tools that are attached: a memgpt agent's turn ends when
    send_message succeeds (exit_loop) and goes on after its other base tools (continue_loop), so it needs no
    request_heartbeat for them; a v1 agent goes on after its base tools (what its loop does anyway)."""
    base = BASE_TOOLS_MEMGPT if kind == AgentType.MEMGPT else BASE_TOOLS_V1
    rules = []
    for name in base:
        if name in attached:
            rule_type = "exit_loop" if name == "send_message" else "continue_loop"
            rules.append({"type": rule_type, "tool_name": name})
    return rules


_BASE_RULE_KEYS = {
    (rule_type, name) for name in {*BASE_TOOLS_MEMGPT, *BASE_TOOLS_V1} for rule_type in ("exit_loop", "continue_loop")
}


def with_base_tool_rules(rules: list[dict[str, Any]], *, kind: str, attached: set[str]) -> list[dict[str, Any]]:
    """`rules` plus the base tool rules it lacks (an existing rule for the same tool and type is kept as is)."""
    have = {(r.get("type"), r.get("tool_name")) for r in rules}
    extra = [r for r in base_tool_rules(kind=kind, attached=attached) if (r["type"], r["tool_name"]) not in have]
    return clean_tool_rules([*rules, *extra])


def without_base_tool_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rules` less the plain base tool rules (exit_loop/continue_loop on a base tool, with no other field)."""
    return [
        r
        for r in rules
        if not ((r.get("type"), r.get("tool_name")) in _BASE_RULE_KEYS and set(r) <= {"type", "tool_name"})
    ]


def agent_recompile(*, agent: Agent, dry_run: bool = False) -> str:
    """Rebuild the compiled system message from the current prompt, memory blocks and memory counts (the runtime
    otherwise recompiles only when the prompt or a block changed) and store it unless `dry_run`. Returns it."""
    from agents.runtime import context

    fresh = Agent.objects.get(pk=agent.pk)
    return context.compile_system(fresh, store=not dry_run, force=True)


def _switch_base_tools(agent: Agent) -> None:
    """After a type change: attach the new type's base tools; a v1 agent answers in plain text, so it loses
    send_message (a memgpt agent cannot reply without it)."""
    base = BASE_TOOLS_MEMGPT if agent.agent_type == AgentType.MEMGPT else BASE_TOOLS_V1
    tools = tool_ids_for_names(organization_id=agent.organization_id, names=list(base))
    have = set(AgentTool.objects.filter(agent=agent).values_list("tool_id", flat=True))
    AgentTool.objects.bulk_create([AgentTool(agent=agent, tool=t) for t in tools if t.pk not in have])
    if agent.agent_type == AgentType.V1:
        AgentTool.objects.filter(agent=agent, tool__organization=None, tool__name="send_message").delete()


def _tool_for(agent: Agent, raw: Any) -> Tool:
    try:
        tool = Tool.objects.get(pk=raw)
    except (Tool.DoesNotExist, ValidationError, ValueError):
        raise ValidationError({"tool_ids": f"tool {raw} not found"}) from None
    if tool.organization_id not in (None, agent.organization_id):
        raise ValidationError({"tool_ids": f"tool {raw} not found"})
    return tool


def agent_delete(*, agent: Agent) -> None:
    """Deletes the agent, its messages, runs and steps. Blocks stay (they may be shared)."""
    agent.delete()


@transaction.atomic
def agent_block_attach(*, agent: Agent, block: Block) -> Agent:
    if block.organization_id != agent.organization_id:
        raise ValidationError({"block_id": "block not found"})
    if AgentBlock.objects.filter(agent=agent, block=block).exists():
        return agent
    if agent.blocks.filter(label=block.label).exists():
        raise ValidationError({"label": f"the agent already has a block labelled {block.label!r}"})
    try:
        with transaction.atomic():
            AgentBlock.objects.create(agent=agent, block=block)
    except IntegrityError:
        pass
    Agent.objects.filter(pk=agent.pk).update(compiled_hash="")
    return agent


@transaction.atomic
def agent_block_detach(*, agent: Agent, block: Block) -> Agent:
    AgentBlock.objects.filter(agent=agent, block=block).delete()
    Agent.objects.filter(pk=agent.pk).update(compiled_hash="")
    return agent


def agent_tool_attach(*, agent: Agent, tool: Tool) -> Agent:
    tool = _tool_for(agent, tool.pk)
    AgentTool.objects.get_or_create(agent=agent, tool=tool)
    return agent


def agent_tool_detach(*, agent: Agent, tool: Tool) -> Agent:
    AgentTool.objects.filter(agent=agent, tool=tool).delete()
    return agent
