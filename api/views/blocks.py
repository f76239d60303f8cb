"""Blocks (`/v1/blocks/`): shared core-memory blocks of the organization."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import api_actor
from agents.selectors import identity_block_ids
from api.base import ApiView, validated
from api.lookups import block_or_404
from api.pagination import CursorParams, cursor_id, paginate_by
from api.schemas import BlockOutput, BlockUpdateInput
from api.wire import block_to_wire
from memory.selectors import block_list
from memory.services.blocks import block_create, block_delete, block_update

S = serializers


class BlockListCreateApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        label = S.CharField(max_length=100)  # type: ignore[assignment]
        value = S.CharField(allow_blank=True, trim_whitespace=False)
        limit = S.IntegerField(required=False, allow_null=True, min_value=1)
        description = S.CharField(required=False, allow_blank=True, allow_null=True)
        read_only = S.BooleanField(required=False, default=False)  # type: ignore[assignment]
        metadata = S.DictField(required=False, allow_null=True)
        tags = S.ListField(child=S.CharField(), required=False, allow_null=True)
        is_template = S.BooleanField(required=False, default=False)
        template_name = S.CharField(required=False, allow_blank=True, allow_null=True, max_length=200)

    class FilterSerializer(CursorParams):
        label = S.CharField(required=False, allow_null=True)  # type: ignore[assignment]
        name = S.CharField(required=False, allow_null=True)
        templates_only = S.BooleanField(required=False, default=False)
        tags = S.ListField(child=S.CharField(), required=False, allow_null=True)
        match_all_tags = S.BooleanField(required=False, default=False)
        identity_id = S.CharField(required=False, allow_null=True)
        identifier_keys = S.ListField(child=S.CharField(), required=False, allow_null=True)

    @extend_schema(operation_id="list_blocks", parameters=[FilterSerializer], responses={200: BlockOutput(many=True)})
    def get(self, request: Request) -> Response:
        params = validated(self.FilterSerializer, request.query_params)
        qs = block_list(
            actor=api_actor(request),
            label=params.get("label"),
            tags=params.get("tags"),
            match_all_tags=params["match_all_tags"],
            templates_only=params["templates_only"],
            name=params.get("name"),
            block_ids=identity_block_ids(
                actor=api_actor(request),
                identity_id=cursor_id("identity", params.get("identity_id"), field="identity_id"),
                identifier_keys=params.get("identifier_keys"),
            ),
        )
        page = paginate_by(qs, prefix="block", params=params)
        return Response([block_to_wire(b) for b in page])

    @extend_schema(operation_id="create_block", request=InputSerializer, responses={200: BlockOutput})
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        block = block_create(
            actor=api_actor(request),
            label=data["label"],
            value=data["value"],
            limit=data.get("limit"),
            description=data.get("description"),
            read_only=data["read_only"],
            metadata=data.get("metadata"),
            tags=data.get("tags"),
            is_template=data["is_template"],
            template_name=data.get("template_name") or "",
        )
        return Response(block_to_wire(block))


class BlockCountApi(ApiView):
    @extend_schema(operation_id="count_blocks", responses={200: OpenApiTypes.INT})
    def get(self, request: Request) -> Response:
        return Response(block_list(actor=api_actor(request)).count())


class BlockDetailApi(ApiView):
    @extend_schema(operation_id="retrieve_block", responses={200: BlockOutput})
    def get(self, request: Request, block_id: str) -> Response:
        return Response(block_to_wire(block_or_404(request, block_id)))

    @extend_schema(operation_id="modify_block", request=BlockUpdateInput, responses={200: BlockOutput})
    def patch(self, request: Request, block_id: str) -> Response:
        block = block_or_404(request, block_id)
        data = validated(BlockUpdateInput, request.data, partial=True)
        changes: dict[str, Any] = {
            k: data[k] for k in ("value", "label", "limit", "read_only", "metadata", "tags") if k in data
        }
        if "description" in data:
            changes["description"] = data["description"] or ""
        block = block_update(block=block, actor=api_actor(request), **changes)
        return Response(block_to_wire(block))

    @extend_schema(operation_id="delete_block", responses={200: None})
    def delete(self, request: Request, block_id: str) -> Response:
        block_delete(block=block_or_404(request, block_id))
        return Response(None)
