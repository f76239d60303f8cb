"""An agent's folders (attach, detach, list) and its files (list with what is open, open, close, close all)."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from agents.services.folders import agent_folder_attach, agent_folder_detach
from api.base import ApiView, validated
from api.lookups import agent_or_404, file_or_404, folder_or_404
from api.pagination import paginate_by
from api.schemas import AgentFilesPageSchema, AgentStateSchema, FolderSchema
from api.views.agents import agent_response
from api.views.folders import PageSerializer
from api.wire.files import file_view_to_wire, folder_to_wire
from files import windows
from files.selectors import agent_file_views, agent_folders
from lib.ids import parse_id

S = serializers


class AgentFolderListApi(ApiView):
    @extend_schema(
        operation_id="list_agent_folders", parameters=[PageSerializer], responses={200: FolderSchema(many=True)}
    )
    def get(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        params = validated(PageSerializer, request.query_params)
        folders = list(agent_folders(agent_id=agent.id, organization_id=agent.organization_id))
        if params.get("order") == "desc":
            folders.reverse()
        for name, raw in (("after", params.get("after")), ("before", params.get("before"))):
            if raw:
                ids = [f.id for f in folders]
                pk = parse_id("source", raw)
                if pk not in ids:
                    raise S.ValidationError({name: f"{raw} is not in this list"})
                at = ids.index(pk)
                folders = folders[at + 1 :] if name == "after" else folders[:at]
        return Response([folder_to_wire(f) for f in folders[: params.get("limit") or 100]])


class AgentFolderAttachApi(ApiView):
    @extend_schema(operation_id="attach_folder_to_agent", request=None, responses={200: AgentStateSchema})
    def patch(self, request: Request, agent_id: str, folder_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        agent_folder_attach(agent=agent, folder=folder_or_404(request, folder_id))
        return agent_response(agent)


class AgentFolderDetachApi(ApiView):
    @extend_schema(operation_id="detach_folder_from_agent", request=None, responses={200: AgentStateSchema})
    def patch(self, request: Request, agent_id: str, folder_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        agent_folder_detach(agent=agent, folder=folder_or_404(request, folder_id))
        return agent_response(agent)


class AgentFileListApi(ApiView):
    class FilterSerializer(PageSerializer):
        is_open = S.BooleanField(required=False, allow_null=True, default=None)
        cursor = S.CharField(required=False, allow_null=True)

    @extend_schema(
        operation_id="list_agent_files", parameters=[FilterSerializer], responses={200: AgentFilesPageSchema}
    )
    def get(self, request: Request, agent_id: str) -> Response:
        """Letta's paged object: {files, next_cursor, has_more}."""
        agent = agent_or_404(request, agent_id)
        params = validated(self.FilterSerializer, request.query_params)
        qs = agent_file_views(agent_id=agent.id, organization_id=agent.organization_id)
        if params.get("is_open") is not None:
            qs = qs.filter(is_open=params["is_open"])
        limit = params.get("limit") or 100
        if params.get("cursor") and not params.get("after"):
            params["after"] = params["cursor"]
        page = paginate_by(qs, prefix="file_agent", params={**params, "limit": limit + 1})
        has_more = len(page) > limit
        page = page[:limit]
        files = [file_view_to_wire(v) for v in page]
        return Response({"files": files, "next_cursor": files[-1]["id"] if has_more else None, "has_more": has_more})


def _view_or_404(request: Request, agent_id: str, file_id: str) -> Any:
    agent = agent_or_404(request, agent_id)
    file = file_or_404(request, file_id)
    view = agent_file_views(agent_id=agent.id, organization_id=agent.organization_id).filter(file_id=file.id).first()
    if view is None:
        raise NotFound(f"File {file_id} is not in a folder attached to agent {agent_id}")
    return view


class AgentFileOpenApi(ApiView):
    class FilterSerializer(S.Serializer[Any]):
        offset = S.IntegerField(required=False, allow_null=True, min_value=1)
        length = S.IntegerField(required=False, allow_null=True, min_value=1)

    @extend_schema(operation_id="open_file_for_agent", request=None, responses={200: OpenApiTypes.OBJECT})
    def patch(self, request: Request, agent_id: str, file_id: str) -> Response:
        """Opens the file; answers the names of files closed to make room (least recently used)."""
        view = _view_or_404(request, agent_id, file_id)
        params = validated(self.FilterSerializer, request.query_params)
        try:
            opened = windows.file_open(view=view, offset=params.get("offset"), length=params.get("length"))
        except ValueError as exc:
            raise S.ValidationError({"file_id": str(exc)}) from None
        return Response(opened.closed)


class AgentFileCloseApi(ApiView):
    @extend_schema(operation_id="close_file_for_agent", request=None, responses={200: OpenApiTypes.OBJECT})
    def patch(self, request: Request, agent_id: str, file_id: str) -> Response:
        view = _view_or_404(request, agent_id, file_id)
        windows.file_close(view=view)
        return Response({"message": f"File {windows.display_name(view.folder, view.file)} closed"})


class AgentFileCloseAllApi(ApiView):
    @extend_schema(operation_id="close_all_files_for_agent", request=None, responses={200: OpenApiTypes.OBJECT})
    def patch(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        return Response(windows.files_close_all(agent_id=agent.id, organization_id=agent.organization_id))
