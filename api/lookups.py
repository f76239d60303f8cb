"""Lookups shared by the API views. Every object is reached through a selector scoped to the key's
organization; another organization's id, a deleted one and a malformed one all give the same 404."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from accounts.http import api_actor
from agents.models import Agent, Conversation, Identity, Message, Run, Step, Tool
from agents.selectors import (
    agent_get,
    conversation_get,
    identity_get,
    message_get,
    run_get,
    step_get,
    tool_get,
)
from files.models import File, Folder
from files.selectors import file_get, folder_get
from lib.ids import IdPrefix, parse_id
from memory.models import Block
from memory.selectors import block_get


@contextmanager
def not_found(label: str, raw_id: str) -> Iterator[None]:
    """A selector's DoesNotExist in the block → the API's 404 `<label> <id> not found`."""
    try:
        yield
    except ObjectDoesNotExist:
        raise NotFound(f"{label} {raw_id} not found") from None


def agent_or_404(request: Request, agent_id: str) -> Agent:
    with not_found("Agent", agent_id):
        return agent_get(actor=api_actor(request), agent_id=parse_id("agent", agent_id))


def conversation_or_404(request: Request, conversation_id: str) -> Conversation:
    with not_found("Conversation", conversation_id):
        return conversation_get(actor=api_actor(request), conversation_id=parse_id("conv", conversation_id))


def block_or_404(request: Request, block_id: str) -> Block:
    with not_found("Block", block_id):
        return block_get(actor=api_actor(request), block_id=parse_id("block", block_id))


def folder_or_404(request: Request, folder_id: str) -> Folder:
    with not_found("Folder", folder_id):
        return folder_get(actor=api_actor(request), folder_id=parse_id("source", folder_id))


def file_or_404(request: Request, file_id: str, *, folder: Folder | None = None, content: bool = False) -> File:
    """A file of the caller's organization (and of `folder`, when given)."""
    with not_found("File", file_id):
        return file_get(
            actor=api_actor(request),
            file_id=parse_id("file", file_id),
            folder_id=folder.id if folder is not None else None,
            content=content,
        )


def identity_or_404(request: Request, identity_id: str) -> Identity:
    with not_found("Identity", identity_id):
        return identity_get(actor=api_actor(request), identity_id=parse_id("identity", identity_id))


def tool_or_404(request: Request, tool_id: str) -> Tool:
    with not_found("Tool", tool_id):
        return tool_get(actor=api_actor(request), tool_id=parse_id("tool", tool_id))


def run_or_404(request: Request, run_id: str) -> Run:
    with not_found("Run", run_id):
        return run_get(actor=api_actor(request), run_id=parse_id("run", run_id))


def step_or_404(request: Request, step_id: str) -> Step:
    with not_found("Step", step_id):
        return step_get(actor=api_actor(request), step_id=parse_id("step", step_id))


def message_or_404(request: Request, message_id: str, *, agent_id: uuid.UUID | None = None) -> Message:
    """A message of the caller's organization (and of `agent_id`, when given)."""
    with not_found("Message", message_id):
        return message_get(actor=api_actor(request), message_id=parse_id("message", message_id), agent_id=agent_id)


def bare_ids(prefix: IdPrefix, raws: list[str] | None, *, field: str) -> list[str] | None:
    """`<prefix>-<uuid>` ids from a request body → the bare UUID strings services take (422 when malformed)."""
    if raws is None:
        return None
    out = []
    for raw in raws:
        try:
            out.append(str(parse_id(prefix, raw)))
        except NotFound:
            raise serializers.ValidationError({field: f"{raw} is not a valid {prefix} id"}) from None
    return out


def present(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The given keys that the client actually sent (PATCH semantics: absent means unchanged)."""
    return {k: data[k] for k in keys if k in data}


class JSONAnyField(serializers.JSONField):
    """Any JSON value (documented as such in the schema)."""
