"""Folders (Letta's sources) and their files: CRUD, multipart upload, the agents a folder is attached to, its
passages (the files' chunks)."""

from typing import Any

from django.conf import settings
from django.db.models import Count, Sum
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import api_actor
from accounts.selectors import organization_id_for
from agents.model_settings import embedding_handle_from_letta
from api.base import ApiView, Conflict, PayloadTooLarge, validated
from api.lookups import JSONAnyField, file_or_404, folder_or_404
from api.pagination import paginate_by
from api.schemas import FileChunkSchema, FileMetadataSchema, FolderSchema
from api.wire.files import chunk_to_wire, file_to_wire, folder_to_wire
from files.models import File
from files.selectors import file_queryset, folder_agent_ids, folder_chunks, folder_queryset
from files.services.folders import FolderNameTaken, folder_create, folder_delete, folder_update
from files.services.uploads import DUPLICATE_HANDLING, DuplicateFile, FileTooLarge, file_delete, file_upload
from lib.ids import public_id

S = serializers


class PageSerializer(S.Serializer[Any]):
    after = S.CharField(required=False, allow_null=True)
    before = S.CharField(required=False, allow_null=True)
    limit = S.IntegerField(required=False, allow_null=True, min_value=1, max_value=1000)
    order = S.ChoiceField(choices=["asc", "desc"], required=False, default="asc")
    order_by = S.ChoiceField(choices=["created_at"], required=False, default="created_at")


class FolderListCreateApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        name = S.CharField(max_length=200)
        description = S.CharField(required=False, allow_null=True, allow_blank=True)
        instructions = S.CharField(required=False, allow_null=True, allow_blank=True)
        metadata = S.DictField(required=False, allow_null=True)
        embedding = S.CharField(required=False, allow_null=True)
        embedding_config = S.DictField(required=False, allow_null=True)
        embedding_chunk_size = S.IntegerField(required=False, allow_null=True)

    class FilterSerializer(PageSerializer):
        name = S.CharField(required=False, allow_null=True)

    @extend_schema(operation_id="list_folders", parameters=[FilterSerializer], responses={200: FolderSchema(many=True)})
    def get(self, request: Request) -> Response:
        params = validated(self.FilterSerializer, request.query_params)
        qs = folder_queryset(actor=api_actor(request))
        if params.get("name"):
            qs = qs.filter(name=params["name"])
        page = paginate_by(qs, prefix="source", params=params, default_limit=100)
        return Response([folder_to_wire(f) for f in page])

    @extend_schema(operation_id="create_folder", request=InputSerializer, responses={200: FolderSchema})
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        actor = api_actor(request)
        chunk_size = data.get("embedding_chunk_size") or (data.get("embedding_config") or {}).get(
            "embedding_chunk_size"
        )
        try:
            folder = folder_create(
                organization_id=organization_id_for(actor),
                name=data["name"],
                description=data.get("description"),
                instructions=data.get("instructions"),
                metadata=data.get("metadata"),
                embedding=embedding_handle_from_letta(data),
                embedding_chunk_size=chunk_size,
                created_by_id=actor.pk,
            )
        except FolderNameTaken as exc:
            raise Conflict(str(exc)) from None
        return Response(folder_to_wire(folder))


class FolderCountApi(ApiView):
    @extend_schema(operation_id="count_folders", responses={200: OpenApiTypes.INT})
    def get(self, request: Request) -> Response:
        return Response(folder_queryset(actor=api_actor(request)).count())


class FolderByNameApi(ApiView):
    @extend_schema(operation_id="get_folder_by_name", responses={200: OpenApiTypes.STR})
    def get(self, request: Request, folder_name: str) -> Response:
        folder = folder_queryset(actor=api_actor(request)).filter(name=folder_name).first()
        if folder is None:
            raise NotFound(f"Folder {folder_name!r} not found")
        return Response(public_id("source", folder.id))


class FolderMetadataApi(ApiView):
    @extend_schema(operation_id="retrieve_metadata", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        actor = api_actor(request)
        folders = list(
            folder_queryset(actor=actor).annotate(file_count=Count("files"), total_size=Sum("files__file_size"))
        )
        files = list(file_queryset(actor=actor).only("id", "file_name", "file_size", "folder_id"))
        out = []
        for folder in folders:
            mine = [f for f in files if f.folder_id == folder.id]
            out.append(
                {
                    "source_id": public_id("source", folder.id),
                    "source_name": folder.name,
                    "file_count": len(mine),
                    "total_size": sum(f.file_size for f in mine),
                    "files": [
                        {"file_id": public_id("file", f.id), "file_name": f.file_name, "file_size": f.file_size}
                        for f in mine
                    ],
                }
            )
        return Response(
            {
                "total_sources": len(folders),
                "total_files": len(files),
                "total_size": sum(f.file_size for f in files),
                "sources": out,
            }
        )


class FolderDetailApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        name = S.CharField(required=False, max_length=200)
        description = S.CharField(required=False, allow_null=True, allow_blank=True)
        instructions = S.CharField(required=False, allow_null=True, allow_blank=True)
        metadata = S.DictField(required=False, allow_null=True)
        embedding_config = JSONAnyField(required=False, allow_null=True)

    @extend_schema(operation_id="retrieve_folder", responses={200: FolderSchema})
    def get(self, request: Request, folder_id: str) -> Response:
        return Response(folder_to_wire(folder_or_404(request, folder_id)))

    @extend_schema(operation_id="modify_folder", request=InputSerializer, responses={200: FolderSchema})
    def patch(self, request: Request, folder_id: str) -> Response:
        folder = folder_or_404(request, folder_id)
        data = validated(self.InputSerializer, request.data)
        changes = {k: data[k] for k in ("name", "description", "instructions", "metadata") if k in data}
        for key in ("description", "instructions"):
            if key in changes and changes[key] is None:
                changes[key] = ""
        try:
            folder = folder_update(folder=folder, updated_by_id=api_actor(request).pk, **changes)
        except FolderNameTaken as exc:
            raise Conflict(str(exc)) from None
        return Response(folder_to_wire(folder))

    @extend_schema(operation_id="delete_folder", responses={200: None})
    def delete(self, request: Request, folder_id: str) -> Response:
        folder_delete(folder=folder_or_404(request, folder_id))
        return Response(None)


class FolderUploadApi(ApiView):
    class FilterSerializer(S.Serializer[Any]):
        duplicate_handling = S.ChoiceField(choices=list(DUPLICATE_HANDLING), required=False, default="suffix")
        name = S.CharField(required=False, allow_null=True, max_length=255)

    @extend_schema(
        operation_id="upload_file_to_folder",
        parameters=[FilterSerializer],
        request={
            "multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
        },
        responses={200: FileMetadataSchema},
    )
    def post(self, request: Request, folder_id: str) -> Response:
        folder = folder_or_404(request, folder_id)
        params = validated(self.FilterSerializer, request.query_params)
        upload = request.FILES.get("file")
        if upload is None:
            raise S.ValidationError({"file": "is required (a multipart form field named file)"})
        if upload.size is not None and upload.size > _max_bytes():
            raise PayloadTooLarge(
                f"{upload.name} is {upload.size:,} bytes; files may be at most {_max_bytes():,} bytes"
            )
        try:
            file, _ = file_upload(
                folder=folder,
                name=params.get("name") or upload.name or "",
                data=upload.read(),
                content_type=upload.content_type,
                duplicate_handling=params["duplicate_handling"],
            )
        except FileTooLarge as exc:
            raise PayloadTooLarge(str(exc)) from None
        except DuplicateFile as exc:
            raise Conflict(str(exc)) from None
        return Response(file_to_wire(file), status=status.HTTP_200_OK)


def _max_bytes() -> int:
    return int(settings.ENGRAM_FILE_MAX_BYTES)


class FolderFileListApi(ApiView):
    class FilterSerializer(PageSerializer):
        include_content = S.BooleanField(required=False, default=False)

    @extend_schema(
        operation_id="list_folder_files", parameters=[FilterSerializer], responses={200: FileMetadataSchema(many=True)}
    )
    def get(self, request: Request, folder_id: str) -> Response:
        folder = folder_or_404(request, folder_id)
        params = validated(self.FilterSerializer, request.query_params)
        qs = file_queryset(actor=api_actor(request), folder_id=folder.id)
        if params["include_content"]:
            qs = File.objects.filter(pk__in=qs.values("pk")).defer("raw")
        page = paginate_by(qs, prefix="file", params=params, default_limit=1000)
        return Response([file_to_wire(f, content=params["include_content"]) for f in page])


class FolderFileDetailApi(ApiView):
    class FilterSerializer(S.Serializer[Any]):
        include_content = S.BooleanField(required=False, default=False)

    @extend_schema(operation_id="retrieve_file", parameters=[FilterSerializer], responses={200: FileMetadataSchema})
    def get(self, request: Request, folder_id: str, file_id: str) -> Response:
        folder = folder_or_404(request, folder_id)
        params = validated(self.FilterSerializer, request.query_params)
        file = file_or_404(request, file_id, folder=folder, content=params["include_content"])
        return Response(file_to_wire(file, content=params["include_content"]))


class FolderFileDeleteApi(ApiView):
    @extend_schema(operation_id="delete_file_from_folder", responses={204: None})
    def delete(self, request: Request, folder_id: str, file_id: str) -> Response:
        folder = folder_or_404(request, folder_id)
        file_delete(file=file_or_404(request, file_id, folder=folder))
        return Response(status=status.HTTP_204_NO_CONTENT)


class FolderAgentsApi(ApiView):
    @extend_schema(
        operation_id="get_agents_for_folder",
        parameters=[PageSerializer],
        responses={200: {"type": "array", "items": {"type": "string"}}},
    )
    def get(self, request: Request, folder_id: str) -> Response:
        folder = folder_or_404(request, folder_id)
        params = validated(PageSerializer, request.query_params)
        ids = folder_agent_ids(actor=api_actor(request), folder_id=folder.id)
        if params.get("order") == "desc":
            ids.reverse()
        return Response([public_id("agent", pk) for pk in ids[: params.get("limit") or 1000]])


class FolderPassagesApi(ApiView):
    class FilterSerializer(PageSerializer):
        pass

    @extend_schema(
        operation_id="list_folder_passages", parameters=[FilterSerializer], responses={200: FileChunkSchema(many=True)}
    )
    def get(self, request: Request, folder_id: str) -> Response:
        folder = folder_or_404(request, folder_id)
        params = validated(self.FilterSerializer, request.query_params)
        qs = folder_chunks(actor=api_actor(request), folder_id=folder.id)
        page = paginate_by(qs, prefix="passage", params=params, default_limit=100)
        return Response([chunk_to_wire(c) for c in page])
