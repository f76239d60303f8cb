"""Identities (an app's end users mapped to agents and blocks): CRUD, upsert by identifier_key, properties,
their agents and blocks, and attaching them to agents and blocks."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import api_actor
from agents.models import Identity
from agents.selectors import agent_list, identity_block_ids, identity_list
from agents.services.identities import (
    IdentityKeyTaken,
    identity_agent_attach,
    identity_agent_detach,
    identity_block_attach,
    identity_block_detach,
    identity_create,
    identity_delete,
    identity_properties_set,
    identity_update,
    identity_upsert,
)
from api import wire
from api.base import ApiView, Conflict, validated
from api.lookups import JSONAnyField, agent_or_404, bare_ids, block_or_404, identity_or_404
from api.pagination import CursorParams, paginate_by
from api.schemas import AgentStateSchema, IdentitySchema
from api.schemas import BlockOutput as BlockSchema
from api.views.agents import agent_response, agents_with_relations
from api.wire import block_to_wire
from memory.selectors import block_list

S = serializers
IDENTITY_TYPES = ["user", "org", "other"]


def _with_links(qs: QuerySet[Identity]) -> QuerySet[Identity]:
    return qs.prefetch_related("agent_links", "block_links")


def identity_response(identity: Identity) -> Response:
    return Response(wire.identity_to_wire(_with_links(Identity.objects.filter(pk=identity.pk)).get()))


@contextmanager
def _conflict_as_409() -> Iterator[None]:
    try:
        yield
    except IdentityKeyTaken as exc:
        raise Conflict(str(exc)) from None


class PropertyInput(S.Serializer[Any]):
    key = S.CharField(max_length=200, trim_whitespace=False)
    value = JSONAnyField()
    type = S.ChoiceField(choices=["string", "number", "boolean", "json"])


class IdentityInput(S.Serializer[Any]):
    identifier_key = S.CharField(max_length=200)
    name = S.CharField(max_length=200)
    identity_type = S.ChoiceField(choices=IDENTITY_TYPES)
    project_id = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
    agent_ids = S.ListField(child=S.CharField(), required=False, allow_null=True)
    block_ids = S.ListField(child=S.CharField(), required=False, allow_null=True)
    properties = PropertyInput(many=True, required=False, allow_null=True)


def _writes(data: dict[str, Any]) -> dict[str, Any]:
    """Service arguments from a validated identity body (`project_id` is accepted and ignored: no projects)."""
    out = {k: data[k] for k in ("identifier_key", "name", "identity_type") if data.get(k) is not None}
    if data.get("properties") is not None:
        out["properties"] = [dict(p) for p in data["properties"]]
    out["agent_ids"] = bare_ids("agent", data.get("agent_ids"), field="agent_ids")
    out["block_ids"] = bare_ids("block", data.get("block_ids"), field="block_ids")
    return out


class IdentityListCreateApi(ApiView):
    class FilterSerializer(CursorParams):
        name = S.CharField(required=False, allow_null=True)
        identifier_key = S.CharField(required=False, allow_null=True)
        identity_type = S.ChoiceField(choices=IDENTITY_TYPES, required=False, allow_null=True)
        project_id = S.CharField(required=False, allow_null=True)

    @extend_schema(
        operation_id="list_identities", parameters=[FilterSerializer], responses={200: IdentitySchema(many=True)}
    )
    def get(self, request: Request) -> Response:
        """The organization's identities, oldest first by default. `name` matches part of the name (any case),
        `identifier_key` the whole key; `project_id` is accepted and ignored."""
        params = validated(self.FilterSerializer, request.query_params)
        qs = identity_list(
            actor=api_actor(request),
            name=params.get("name"),
            identifier_key=params.get("identifier_key"),
            identity_type=params.get("identity_type"),
        )
        page = paginate_by(_with_links(qs), prefix="identity", params=params)
        return Response([wire.identity_to_wire(i) for i in page])

    @extend_schema(operation_id="create_identity", request=IdentityInput, responses={200: IdentitySchema})
    def post(self, request: Request) -> Response:
        """A new identity; an identifier_key the organization already uses is a 409."""
        data = validated(IdentityInput, request.data)
        with _conflict_as_409():
            identity = identity_create(actor=api_actor(request), **_writes(data))
        return identity_response(identity)

    @extend_schema(operation_id="upsert_identity", request=IdentityInput, responses={200: IdentitySchema})
    def put(self, request: Request) -> Response:
        """The identity with this identifier_key, its name, type (and agents, blocks, properties when given)
        replaced; or a new one."""
        data = validated(IdentityInput, request.data)
        with _conflict_as_409():
            identity = identity_upsert(actor=api_actor(request), **_writes(data))
        return identity_response(identity)


class IdentityCountApi(ApiView):
    @extend_schema(operation_id="count_identities", responses={200: OpenApiTypes.INT})
    def get(self, request: Request) -> Response:
        return Response(identity_list(actor=api_actor(request)).count())


class IdentityDetailApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        identifier_key = S.CharField(required=False, allow_null=True, max_length=200)
        name = S.CharField(required=False, allow_null=True, max_length=200)
        identity_type = S.ChoiceField(choices=IDENTITY_TYPES, required=False, allow_null=True)
        agent_ids = S.ListField(child=S.CharField(), required=False, allow_null=True)
        block_ids = S.ListField(child=S.CharField(), required=False, allow_null=True)
        properties = PropertyInput(many=True, required=False, allow_null=True)

    @extend_schema(operation_id="retrieve_identity", responses={200: IdentitySchema})
    def get(self, request: Request, identity_id: str) -> Response:
        return identity_response(identity_or_404(request, identity_id))

    @extend_schema(operation_id="modify_identity", request=InputSerializer, responses={200: IdentitySchema})
    def patch(self, request: Request, identity_id: str) -> Response:
        """Partial update (absent or null: unchanged); `agent_ids`, `block_ids` and `properties` replace the
        whole set. Another identity's identifier_key is a 409."""
        identity = identity_or_404(request, identity_id)
        data = validated(self.InputSerializer, request.data)
        with _conflict_as_409():
            identity = identity_update(identity=identity, **_writes(data))
        return identity_response(identity)

    @extend_schema(operation_id="delete_identity", responses={200: None})
    def delete(self, request: Request, identity_id: str) -> Response:
        """Deletes the identity; its agents and blocks stay."""
        identity_delete(identity=identity_or_404(request, identity_id))
        return Response(None)


class IdentityPropertiesApi(ApiView):
    @extend_schema(
        operation_id="upsert_properties_for_identity",
        request=PropertyInput(many=True),
        responses={200: IdentitySchema},
    )
    def put(self, request: Request, identity_id: str) -> Response:
        """The body (a list of {key, value, type}) becomes the identity's properties; answers the identity."""
        identity = identity_or_404(request, identity_id)
        serializer = PropertyInput(data=request.data, many=True)
        serializer.is_valid(raise_exception=True)
        properties = [dict(p) for p in serializer.validated_data]
        return identity_response(identity_properties_set(identity=identity, properties=properties))


class IdentityAgentListApi(ApiView):
    @extend_schema(
        operation_id="list_agents_for_identity",
        parameters=[CursorParams],
        responses={200: AgentStateSchema(many=True)},
    )
    def get(self, request: Request, identity_id: str) -> Response:
        identity = identity_or_404(request, identity_id)
        params = validated(CursorParams, request.query_params)
        qs = agent_list(actor=api_actor(request), identity_id=identity.pk)
        page = paginate_by(agents_with_relations(qs), prefix="agent", params=params)
        return Response([wire.agent_state(a) for a in page])


class IdentityBlockListApi(ApiView):
    @extend_schema(
        operation_id="list_blocks_for_identity", parameters=[CursorParams], responses={200: BlockSchema(many=True)}
    )
    def get(self, request: Request, identity_id: str) -> Response:
        identity = identity_or_404(request, identity_id)
        params = validated(CursorParams, request.query_params)
        actor = api_actor(request)
        qs = block_list(actor=actor, block_ids=identity_block_ids(actor=actor, identity_id=identity.pk))
        page = paginate_by(qs, prefix="block", params=params)
        return Response([block_to_wire(b) for b in page])


class AgentIdentityAttachApi(ApiView):
    @extend_schema(operation_id="attach_identity_to_agent", request=None, responses={200: AgentStateSchema})
    def patch(self, request: Request, agent_id: str, identity_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        identity_agent_attach(identity=identity_or_404(request, identity_id), agent=agent)
        return agent_response(agent)


class AgentIdentityDetachApi(ApiView):
    @extend_schema(operation_id="detach_identity_from_agent", request=None, responses={200: AgentStateSchema})
    def patch(self, request: Request, agent_id: str, identity_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        identity_agent_detach(identity=identity_or_404(request, identity_id), agent=agent)
        return agent_response(agent)


class BlockIdentityAttachApi(ApiView):
    @extend_schema(operation_id="attach_identity_to_block", request=None, responses={200: BlockSchema})
    def patch(self, request: Request, block_id: str, identity_id: str) -> Response:
        block = block_or_404(request, block_id)
        identity_block_attach(identity=identity_or_404(request, identity_id), block=block)
        return Response(block_to_wire(block))


class BlockIdentityDetachApi(ApiView):
    @extend_schema(operation_id="detach_identity_from_block", request=None, responses={200: BlockSchema})
    def patch(self, request: Request, block_id: str, identity_id: str) -> Response:
        block = block_or_404(request, block_id)
        identity_block_detach(identity=identity_or_404(request, identity_id), block=block)
        return Response(block_to_wire(block))
