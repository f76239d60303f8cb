"""Shared archives (`/v1/archives/`, `/v1/agents/{id}/archives/attach|detach/{archive_id}`) and the organization's
passage search (`POST /v1/passages/search`)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import api_actor
from accounts.selectors import organization_id_for
from api import wire
from api.base import ApiView, validated
from api.lookups import agent_or_404, not_found
from api.pagination import CursorParams, paginate_by
from api.schemas import ArchiveSchema, PassageSchema, PassageSearchItemSchema
from lib.ids import parse_id
from memory.embeddings import EmbeddingError, resolve_model
from memory.models import Archive, Passage
from memory.search import PassageHit, passages_search
from memory.selectors_archives import (
    archive_get,
    archive_ids_of_agent,
    archive_list,
    archive_passage_get,
    archive_passages,
)
from memory.selectors_passages import passage_filter
from memory.services.archives import archive_attach, archive_create, archive_delete, archive_detach, archive_update
from memory.services.passages import MAX_BATCH_ITEMS, PassageInput, passage_delete, passage_insert_many

S = serializers


def archive_or_404(request: Request, archive_id: str) -> Archive:
    with not_found("Archive", archive_id):
        return archive_get(actor=api_actor(request), archive_id=parse_id("archive", archive_id))


def _archive_wire(archive: Archive) -> dict[str, Any]:
    return wire.archive_to_wire(archive, embedding_config=wire.embedding_config(archive.embedding or _default()))


def _default() -> str:
    return resolve_model("")


class ArchiveListCreateApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        name = S.CharField(max_length=200)
        description = S.CharField(required=False, allow_null=True, allow_blank=True)
        embedding = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
        embedding_config = S.DictField(required=False, allow_null=True)

    class FilterSerializer(CursorParams):
        name = S.CharField(required=False, allow_null=True)
        agent_id = S.CharField(required=False, allow_null=True)

    @extend_schema(
        operation_id="list_archives", parameters=[FilterSerializer], responses={200: ArchiveSchema(many=True)}
    )
    def get(self, request: Request) -> Response:
        params = validated(self.FilterSerializer, request.query_params)
        agent_id = params.get("agent_id")
        qs = archive_list(
            actor=api_actor(request),
            agent_id=agent_or_404(request, agent_id).id if agent_id else None,
            name=params.get("name"),
        )
        return Response([_archive_wire(a) for a in paginate_by(qs, prefix="archive", params=params)])

    @extend_schema(operation_id="create_archive", request=InputSerializer, responses={200: ArchiveSchema})
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        embedding = data.get("embedding") or (data.get("embedding_config") or {}).get("handle") or None
        archive = archive_create(
            actor=api_actor(request), name=data["name"], description=data.get("description"), embedding=embedding
        )
        return Response(_archive_wire(archive))


class ArchiveDetailApi(ApiView):
    class UpdateSerializer(S.Serializer[Any]):
        name = S.CharField(required=False, allow_null=True, max_length=200)
        description = S.CharField(required=False, allow_null=True, allow_blank=True)

    @extend_schema(operation_id="retrieve_archive", responses={200: ArchiveSchema})
    def get(self, request: Request, archive_id: str) -> Response:
        return Response(_archive_wire(archive_or_404(request, archive_id)))

    @extend_schema(operation_id="modify_archive", request=UpdateSerializer, responses={200: ArchiveSchema})
    def patch(self, request: Request, archive_id: str) -> Response:
        archive = archive_or_404(request, archive_id)
        data = validated(self.UpdateSerializer, request.data)
        archive = archive_update(
            actor=api_actor(request), archive=archive, name=data.get("name"), description=data.get("description")
        )
        return Response(_archive_wire(archive))

    @extend_schema(operation_id="delete_archive", responses={200: None})
    def delete(self, request: Request, archive_id: str) -> Response:
        archive_delete(archive=archive_or_404(request, archive_id))
        return Response(None)


class PassageInputSerializer(S.Serializer[Any]):
    text = S.CharField(trim_whitespace=False)
    tags = S.ListField(child=S.CharField(max_length=200), required=False, allow_null=True)
    metadata = S.DictField(required=False, allow_null=True)
    created_at = S.DateTimeField(required=False, allow_null=True)


def _passage_input(data: dict[str, Any]) -> PassageInput:
    return PassageInput(
        text=data["text"],
        tags=list(data.get("tags") or []),
        metadata=dict(data.get("metadata") or {}),
        created_at=data.get("created_at"),
    )


def _passage_wire(passage: Passage, archive: Archive) -> dict[str, Any]:
    return wire.passage_to_wire(passage, embedding_config=wire.embedding_config(archive.embedding or _default()))


class ArchivePassagesApi(ApiView):
    class FilterSerializer(CursorParams):
        search = S.CharField(required=False, allow_null=True)

    @extend_schema(
        operation_id="list_archive_passages", parameters=[FilterSerializer], responses={200: PassageSchema(many=True)}
    )
    def get(self, request: Request, archive_id: str) -> Response:
        archive = archive_or_404(request, archive_id)
        params = validated(self.FilterSerializer, request.query_params)
        qs = archive_passages(actor=api_actor(request), archive_id=archive.id, search=params.get("search"))
        return Response([_passage_wire(p, archive) for p in paginate_by(qs, prefix="passage", params=params)])

    @extend_schema(
        operation_id="create_archive_passage", request=PassageInputSerializer, responses={200: PassageSchema}
    )
    def post(self, request: Request, archive_id: str) -> Response:
        archive = archive_or_404(request, archive_id)
        item = _passage_input(validated(PassageInputSerializer, request.data))
        (passage,) = passage_insert_many(archive=archive, items=[item], created_by_id=api_actor(request).pk)
        return Response(_passage_wire(passage, archive))


class ArchivePassageBatchApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        passages = S.ListField(child=PassageInputSerializer(), allow_empty=False, max_length=MAX_BATCH_ITEMS)

    @extend_schema(
        operation_id="create_archive_passages_batch", request=InputSerializer, responses={200: PassageSchema(many=True)}
    )
    def post(self, request: Request, archive_id: str) -> Response:
        archive = archive_or_404(request, archive_id)
        data = validated(self.InputSerializer, request.data)
        items = [_passage_input(item) for item in data["passages"]]
        created = passage_insert_many(archive=archive, items=items, created_by_id=api_actor(request).pk)
        return Response([_passage_wire(p, archive) for p in created])


class ArchivePassageDetailApi(ApiView):
    @extend_schema(operation_id="delete_archive_passage", responses={200: None})
    def delete(self, request: Request, archive_id: str, passage_id: str) -> Response:
        archive = archive_or_404(request, archive_id)
        with not_found("Passage", passage_id):
            passage = archive_passage_get(
                actor=api_actor(request), archive_id=archive.id, passage_id=parse_id("passage", passage_id)
            )
        passage_delete(passage=passage)
        return Response(None)


class AgentArchiveAttachApi(ApiView):
    attach = True

    @extend_schema(operation_id="attach_archive_to_agent", request=None, responses={200: None})
    def patch(self, request: Request, agent_id: str, archive_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        archive = archive_or_404(request, archive_id)
        if self.attach:
            archive_attach(archive=archive, agent=agent)
        else:
            archive_detach(archive=archive, agent=agent)
        return Response(None)


class AgentArchiveDetachApi(AgentArchiveAttachApi):
    attach = False

    @extend_schema(operation_id="detach_archive_from_agent", request=None, responses={200: None})
    def patch(self, request: Request, agent_id: str, archive_id: str) -> Response:
        return super().patch(request, agent_id, archive_id)


class PassageSearchOrganizationApi(ApiView):
    """Every passage of the organization (agents' own and shared archives'), or one agent's view of its archival
    memory (its own and its attached archives'), or one archive's."""

    class InputSerializer(S.Serializer[Any]):
        query = S.CharField(required=False, allow_null=True)
        agent_id = S.CharField(required=False, allow_null=True)
        archive_id = S.CharField(required=False, allow_null=True)
        tags = S.ListField(child=S.CharField(), required=False, allow_null=True)
        tag_match_mode = S.ChoiceField(choices=["any", "all"], required=False, default="any")
        limit = S.IntegerField(required=False, allow_null=True, min_value=1, max_value=200)
        start_date = S.DateTimeField(required=False, allow_null=True)
        end_date = S.DateTimeField(required=False, allow_null=True)

    @extend_schema(
        operation_id="search_passages", request=InputSerializer, responses={200: PassageSearchItemSchema(many=True)}
    )
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        actor = api_actor(request)
        agent = agent_or_404(request, data["agent_id"]) if data.get("agent_id") else None
        archive = archive_or_404(request, data["archive_id"]) if data.get("archive_id") else None
        agent_ids: list[Any] | None = None
        archive_ids: list[Any] | None = None
        if agent is not None and archive is not None:  # that archive, as this agent sees it
            agent_ids = []
            archive_ids = [archive.id] if archive.id in archive_ids_of_agent(agent_id=agent.id) else []
        elif agent is not None:
            agent_ids, archive_ids = [agent.id], archive_ids_of_agent(agent_id=agent.id)
        elif archive is not None:
            agent_ids, archive_ids = [], [archive.id]
        model = agent.embedding if agent is not None else (archive.embedding if archive is not None else "")
        limit = data.get("limit") or 10
        if not (data.get("query") or "").strip():  # no query: the newest matches
            return Response(self._newest(actor, agent_ids, archive_ids, data, limit))
        arguments: dict[str, Any] = {
            "organization_id": organization_id_for(actor),
            "agent_ids": agent_ids,
            "archive_ids": archive_ids,
            "embedding_model": model,
            "query": data["query"],
            "tags": data.get("tags") or None,
            "tag_match_mode": data["tag_match_mode"],
            "top_k": limit,
            "start": data.get("start_date"),
            "end": data.get("end_date"),
        }
        try:
            hits = passages_search(**arguments)
        except EmbeddingError:
            hits = passages_search(**arguments, mode="text")
        return Response([self._item(hit) for hit in hits])

    @staticmethod
    def _item(hit: PassageHit) -> dict[str, Any]:
        return {"passage": wire.passage_to_wire(hit.passage), "score": hit.score, "metadata": {}}

    def _newest(
        self, actor: Any, agent_ids: list[Any] | None, archive_ids: list[Any] | None, data: dict[str, Any], limit: int
    ) -> list[dict[str, Any]]:
        qs = passage_filter(
            actor=actor,
            agent_ids=agent_ids,
            archive_ids=archive_ids,
            tags=data.get("tags") or None,
            tag_match_mode=data["tag_match_mode"],
            start=data.get("start_date"),
            end=data.get("end_date"),
        )
        return [self._item(PassageHit(passage=p, score=0.0)) for p in qs[:limit]]
