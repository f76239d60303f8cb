"""An agent's archival memory: create (→ array of passages), list, search (→ {results, count}), delete."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import api_actor
from api import wire
from api.base import ApiView, validated
from api.lookups import agent_or_404
from api.pagination import paginate
from api.schemas import PassageSchema, PassageSearchSchema
from lib.ids import parse_id, public_id
from memory.embeddings import EmbeddingError
from memory.models import Passage
from memory.search import passage_search
from memory.selectors_passages import passage_get, passage_queryset
from memory.services.passages import passage_delete, passage_insert

S = serializers


class PassageListCreateApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        text = S.CharField(trim_whitespace=False)
        tags = S.ListField(child=S.CharField(max_length=200), required=False, allow_null=True)
        created_at = S.DateTimeField(required=False, allow_null=True)

    class FilterSerializer(S.Serializer[Any]):
        after = S.CharField(required=False, allow_null=True)
        before = S.CharField(required=False, allow_null=True)
        limit = S.IntegerField(required=False, allow_null=True, min_value=1, max_value=1000, default=100)
        ascending = S.BooleanField(required=False, allow_null=True, default=True)
        search = S.CharField(required=False, allow_null=True)

    @extend_schema(
        operation_id="list_passages", parameters=[FilterSerializer], responses={200: PassageSchema(many=True)}
    )
    def get(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        params = validated(self.FilterSerializer, request.query_params)
        qs = passage_queryset(actor=api_actor(request)).filter(agent_id=agent.id)
        if params.get("search"):
            qs = qs.filter(text__icontains=params["search"])
        page = paginate(
            qs,
            prefix="passage",
            after=params.get("after"),
            before=params.get("before"),
            limit=params.get("limit"),
            order="desc" if params.get("ascending") is False else "asc",
            default_limit=100,
        )
        config = wire.embedding_config(agent.embedding)
        return Response([wire.passage_to_wire(p, embedding_config=config) for p in page])

    @extend_schema(operation_id="create_passage", request=InputSerializer, responses={200: PassageSchema(many=True)})
    def post(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        data = validated(self.InputSerializer, request.data)
        passage = passage_insert(
            agent=agent,
            text=data["text"],
            tags=data.get("tags"),
            created_at=data.get("created_at"),
            created_by_id=api_actor(request).pk,
            embed_in_background=True,
        )
        return Response([wire.passage_to_wire(passage, embedding_config=wire.embedding_config(agent.embedding))])


class PassageSearchApi(ApiView):
    class FilterSerializer(S.Serializer[Any]):
        query = S.CharField()
        tags = S.ListField(child=S.CharField(), required=False, allow_null=True)
        tag_match_mode = S.ChoiceField(choices=["any", "all"], required=False, default="any")
        top_k = S.IntegerField(required=False, allow_null=True, min_value=1, max_value=200)
        start_datetime = S.DateTimeField(required=False, allow_null=True)
        end_datetime = S.DateTimeField(required=False, allow_null=True)

    @extend_schema(
        operation_id="search_archival_memory", parameters=[FilterSerializer], responses={200: PassageSearchSchema}
    )
    def get(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        params = validated(self.FilterSerializer, request.query_params)
        arguments: dict[str, Any] = {
            "agent": agent,
            "query": params["query"],
            "tags": params.get("tags") or None,
            "tag_match_mode": params["tag_match_mode"],
            "top_k": params.get("top_k") or 10,
            "start": params.get("start_datetime"),
            "end": params.get("end_datetime"),
        }
        try:
            hits = passage_search(**arguments)
        except EmbeddingError:
            hits = passage_search(**arguments, mode="text")  # the embedding model is unavailable: full text only
        results = [
            {
                "id": public_id("passage", hit.passage.id),
                "timestamp": hit.passage.created_at.isoformat(),
                "content": hit.passage.text,
                "tags": list(hit.passage.tags or []),
            }
            for hit in hits
        ]
        return Response({"results": results, "count": len(results)})


class PassageDeleteApi(ApiView):
    @extend_schema(operation_id="delete_passage", responses={200: None})
    def delete(self, request: Request, agent_id: str, passage_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        try:
            passage = passage_get(actor=api_actor(request), passage_id=parse_id("passage", passage_id))
        except Passage.DoesNotExist:
            passage = None
        if passage is None or passage.agent_id != agent.id:
            raise NotFound(f"Passage {passage_id} not found")
        passage_delete(passage=passage)
        return Response(None)
