"""Identities: an app's end users (or organizations) mapped to agents and blocks.

Every write is one transaction: bad input is `ValidationError({field: reason})` and writes nothing; an
`identifier_key` the organization already uses is `IdentityKeyTaken` (the API answers 409)."""

import json
import math
import uuid
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.selectors import organization_id_for
from agents.models import Agent, Identity, IdentityAgent, IdentityBlock, IdentityType
from memory.models import Block

MAX_TEXT = 200  # identifier_key, name and property keys: their columns' (or a sane) length
MAX_PROPERTIES = 100
MAX_PROPERTIES_JSON = 100_000
PROPERTY_TYPES = ("string", "number", "boolean", "json")


class IdentityKeyTaken(Exception):
    """Another identity of the organization has this identifier_key."""


def _taken(key: str) -> IdentityKeyTaken:
    return IdentityKeyTaken(f"identifier_key: {key!r} is already used by another identity of this organization")


def _clean_text(value: Any, *, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise ValidationError({field: f"must be a non-empty string of at most {MAX_TEXT} characters"})
    return value.strip()


def _clean_type(value: Any) -> str:
    if value not in IdentityType.values:
        raise ValidationError({"identity_type": f"must be one of {', '.join(IdentityType.values)}"})
    return str(value)


def _property_value_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, dict | list)


def clean_properties(value: Any) -> list[dict[str, Any]]:
    """[{key, value, type}] with unique keys and values of their type ('json': an object or a list)."""
    if not isinstance(value, list):
        raise ValidationError({"properties": "must be a list of {key, value, type} objects"})
    if len(value) > MAX_PROPERTIES:
        raise ValidationError({"properties": f"at most {MAX_PROPERTIES} properties"})
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"key", "value", "type"}:
            raise ValidationError({"properties": f"item {index} must be an object with exactly key, value and type"})
        key, kind, val = item["key"], item["type"], item["value"]
        if not isinstance(key, str) or not key or len(key) > MAX_TEXT:
            raise ValidationError({"properties": f"item {index}: key must be a non-empty string of at most {MAX_TEXT}"})
        if key in seen:
            raise ValidationError({"properties": f"item {index}: key {key!r} appears twice"})
        if kind not in PROPERTY_TYPES:
            raise ValidationError({"properties": f"item {index}: type must be one of {', '.join(PROPERTY_TYPES)}"})
        if not _property_value_ok(kind, val):
            raise ValidationError({"properties": f"item {index}: value is not of type {kind}"})
        seen.add(key)
        out.append({"key": key, "value": val, "type": kind})
    if len(json.dumps(out)) > MAX_PROPERTIES_JSON:
        raise ValidationError({"properties": f"at most {MAX_PROPERTIES_JSON} characters of JSON in all"})
    return out


def _agents_of(org_id: uuid.UUID, raws: Any, *, field: str = "agent_ids") -> list[Agent]:
    if not isinstance(raws, list):
        raise ValidationError({field: "must be a list of agent ids"})
    found = {str(a.pk): a for a in Agent.objects.filter(organization_id=org_id, pk__in=[str(r) for r in raws])}
    missing = [str(r) for r in raws if str(r) not in found]
    if missing:
        raise ValidationError({field: f"agent {missing[0]} not found"})
    return list({str(r): found[str(r)] for r in raws}.values())


def _blocks_of(org_id: uuid.UUID, raws: Any) -> list[Block]:
    if not isinstance(raws, list):
        raise ValidationError({"block_ids": "must be a list of block ids"})
    found = {str(b.pk): b for b in Block.objects.filter(organization_id=org_id, pk__in=[str(r) for r in raws])}
    missing = [str(r) for r in raws if str(r) not in found]
    if missing:
        raise ValidationError({"block_ids": f"block {missing[0]} not found"})
    return list({str(r): found[str(r)] for r in raws}.values())


def identities_of(org_id: uuid.UUID, raws: Any, *, field: str = "identity_ids") -> list[Identity]:
    """The organization's identities with these ids, in the given order (ValidationError naming `field`)."""
    if not isinstance(raws, list):
        raise ValidationError({field: "must be a list of identity ids"})
    rows = Identity.objects.filter(organization_id=org_id, pk__in=[str(r) for r in raws])
    found = {str(i.pk): i for i in rows}
    missing = [str(r) for r in raws if str(r) not in found]
    if missing:
        raise ValidationError({field: f"identity {missing[0]} not found"})
    return list({str(r): found[str(r)] for r in raws}.values())


def _set_agents(identity: Identity, agents: list[Agent]) -> None:
    IdentityAgent.objects.filter(identity=identity).exclude(agent__in=agents).delete()
    have = set(IdentityAgent.objects.filter(identity=identity).values_list("agent_id", flat=True))
    IdentityAgent.objects.bulk_create([IdentityAgent(identity=identity, agent=a) for a in agents if a.pk not in have])


def _set_blocks(identity: Identity, blocks: list[Block]) -> None:
    IdentityBlock.objects.filter(identity=identity).exclude(block__in=blocks).delete()
    have = set(IdentityBlock.objects.filter(identity=identity).values_list("block_id", flat=True))
    IdentityBlock.objects.bulk_create([IdentityBlock(identity=identity, block=b) for b in blocks if b.pk not in have])


def _save(identity: Identity) -> None:
    """Save, turning a lost race for the identifier_key into IdentityKeyTaken (in a savepoint, so the caller's
    transaction stays usable)."""
    try:
        with transaction.atomic():
            identity.save()
    except IntegrityError:
        raise _taken(identity.identifier_key) from None


@transaction.atomic
def identity_create(
    *,
    actor: User,
    identifier_key: Any,
    name: Any,
    identity_type: Any,
    properties: Any = None,
    agent_ids: list[Any] | None = None,
    block_ids: list[Any] | None = None,
) -> Identity:
    """Create an identity (an app's end user) with its agent and block links, in one transaction.
    `identifier_key` is unique per organization: a key another identity holds raises IdentityKeyTaken (the API's
    409), checked first and again by the database constraint."""
    org_id = organization_id_for(actor)
    key = _clean_text(identifier_key, field="identifier_key")
    identity = Identity(
        organization_id=org_id,
        identifier_key=key,
        name=_clean_text(name, field="name"),
        identity_type=_clean_type(identity_type),
        properties=clean_properties(properties) if properties is not None else [],
    )
    agents = _agents_of(org_id, agent_ids) if agent_ids is not None else []
    blocks = _blocks_of(org_id, block_ids) if block_ids is not None else []
    if Identity.objects.filter(organization_id=org_id, identifier_key=key).exists():
        raise _taken(key)
    _save(identity)
    _set_agents(identity, agents)
    _set_blocks(identity, blocks)
    return identity


@transaction.atomic
def identity_upsert(
    *,
    actor: User,
    identifier_key: Any,
    name: Any,
    identity_type: Any,
    properties: Any = None,
    agent_ids: list[Any] | None = None,
    block_ids: list[Any] | None = None,
) -> Identity:
    """The organization's identity with this identifier_key, replaced by these values (the agents, blocks and
    properties only when given), or a new one."""
    org_id = organization_id_for(actor)
    key = _clean_text(identifier_key, field="identifier_key")
    existing = Identity.objects.select_for_update().filter(organization_id=org_id, identifier_key=key).first()
    if existing is None:
        return identity_create(
            actor=actor,
            identifier_key=key,
            name=name,
            identity_type=identity_type,
            properties=properties,
            agent_ids=agent_ids,
            block_ids=block_ids,
        )
    return identity_update(
        identity=existing,
        name=name,
        identity_type=identity_type,
        properties=properties,
        agent_ids=agent_ids,
        block_ids=block_ids,
    )


@transaction.atomic
def identity_update(
    *,
    identity: Identity,
    identifier_key: Any = None,
    name: Any = None,
    identity_type: Any = None,
    properties: Any = None,
    agent_ids: list[Any] | None = None,
    block_ids: list[Any] | None = None,
) -> Identity:
    """Partial update: None leaves a field alone; agent_ids / block_ids / properties replace the whole set.
    The caller reached `identity` through a selector."""
    locked = Identity.objects.select_for_update().get(pk=identity.pk)
    org_id = locked.organization_id
    if identifier_key is not None:
        key = _clean_text(identifier_key, field="identifier_key")
        if Identity.objects.filter(organization_id=org_id, identifier_key=key).exclude(pk=locked.pk).exists():
            raise _taken(key)
        locked.identifier_key = key
    if name is not None:
        locked.name = _clean_text(name, field="name")
    if identity_type is not None:
        locked.identity_type = _clean_type(identity_type)
    if properties is not None:
        locked.properties = clean_properties(properties)
    agents = _agents_of(org_id, agent_ids) if agent_ids is not None else None
    blocks = _blocks_of(org_id, block_ids) if block_ids is not None else None
    _save(locked)
    if agents is not None:
        _set_agents(locked, agents)
    if blocks is not None:
        _set_blocks(locked, blocks)
    return locked


def identity_properties_set(*, identity: Identity, properties: Any) -> Identity:
    """Replace the identity's properties with `properties` ([{key, value, type}])."""
    return identity_update(identity=identity, properties=properties if properties is not None else [])


def identity_delete(*, identity: Identity) -> None:
    """Deletes the identity and its links; its agents and blocks stay."""
    identity.delete()


def identity_agent_attach(*, identity: Identity, agent: Agent) -> None:
    """Idempotent. The caller reached both through selectors of the same organization."""
    IdentityAgent.objects.get_or_create(identity=identity, agent=agent)


def identity_agent_detach(*, identity: Identity, agent: Agent) -> None:
    """Idempotent: detaching an identity the agent does not have is a no-op."""
    IdentityAgent.objects.filter(identity=identity, agent=agent).delete()


def identity_block_attach(*, identity: Identity, block: Block) -> None:
    IdentityBlock.objects.get_or_create(identity=identity, block=block)


def identity_block_detach(*, identity: Identity, block: Block) -> None:
    IdentityBlock.objects.filter(identity=identity, block=block).delete()


def agent_identities_set(*, agent: Agent, identities: list[Identity]) -> None:
    """The agent's identities become exactly `identities` (same organization; see identities_of)."""
    IdentityAgent.objects.filter(agent=agent).exclude(identity__in=identities).delete()
    have = set(IdentityAgent.objects.filter(agent=agent).values_list("identity_id", flat=True))
    IdentityAgent.objects.bulk_create([IdentityAgent(identity=i, agent=agent) for i in identities if i.pk not in have])
