"""API-wide wire conventions: error bodies are `{"detail": …}`, validation errors are 422, oversize bodies 413."""

import io
from collections.abc import Mapping
from typing import IO, Any, TypeVar

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, connection
from django.http import Http404, QueryDict
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback
from rest_framework.views import exception_handler as drf_exception_handler

from agents.quotas import QuotaExceeded
from agents.services.approvals import PendingApproval
from agents.services.tools import ToolsNotFound
from agents.tools.sandbox import sandbox_status
from lib.dbpool import RETRY_AFTER_SECONDS, UNAVAILABLE_DETAIL, database_unavailable
from lib.text import MAX_JSON_DEPTH, check_storable

S = TypeVar("S", bound=serializers.BaseSerializer[Any])


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "payload_too_large"


class Conflict(exceptions.APIException):
    """409: the request clashes with what is stored (a unique name taken). Sent with `x-should-retry: false`:
    the SDKs would otherwise resend it twice."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body exceeds the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")


class LimitedJSONParser(parsers.JSONParser):
    """DRF reads JSON straight from the socket, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check: enforce it here."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if limit is not None and declared and declared.isdigit() and int(declared) > limit:
            raise _too_large()
        data = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(data) > limit:
            raise _too_large()
        try:
            parsed = super().parse(io.BytesIO(data), media_type, parser_context)
        except RecursionError:  # the json module gives up near 1,000 levels, before check_storable could
            raise DjangoValidationError({"body": f"is nested deeper than {MAX_JSON_DEPTH} levels"}) from None
        check_storable(parsed)
        return parsed


class ApiSchema(AutoSchema):
    """Name components after the view that nests them (`AgentListCreateApi.InputSerializer` →
    `AgentListCreateApiInput`), so every view can call its serializers InputSerializer/OutputSerializer."""

    def _get_serializer_name(self, serializer: Any, direction: Any, bypass_extensions: bool = False) -> str:
        name: str = super()._get_serializer_name(serializer, direction, bypass_extensions)
        outer = type(serializer).__qualname__.split(".")
        if len(outer) > 1:
            name = outer[-2] + name
        return name


class APIKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "accounts.authentication.APIKeyAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An Engram API key"}


class ApiView(APIView):
    """Base of every `/v1` view: bounded JSON bodies (multipart keeps Django's own limits)."""

    parser_classes = [LimitedJSONParser, parsers.MultiPartParser]
    schema = ApiSchema()


def validated(serializer_class: type[S], data: Any, **kwargs: Any) -> dict[str, Any]:
    """Validate request data or query params with `serializer_class`; errors become 422 `{"detail": …}`."""
    if isinstance(data, QueryDict):  # query parameters and form fields (JSON bodies are checked when parsed)
        check_storable(dict(data.lists()))
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    result: dict[str, Any] = dict(serializer.validated_data)
    return result


def _flatten(detail: Any, prefix: str = "") -> list[str]:
    if isinstance(detail, dict):
        out: list[str] = []
        for key, value in detail.items():
            out.extend(_flatten(value, f"{prefix}{key}: " if key != "non_field_errors" else prefix))
        return out
    if isinstance(detail, list):
        return [line for item in detail for line in _flatten(item, prefix)]
    return [f"{prefix}{detail}"]


def database_unavailable_response() -> Response:
    """503 for a database out of reach (lib.dbpool): the SDKs wait `Retry-After` seconds and send again."""
    return Response(
        {"detail": UNAVAILABLE_DETAIL},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if database_unavailable(exc):
        set_rollback()
        return database_unavailable_response()
    if isinstance(exc, RequestDataTooBig):
        exc = _too_large()
    if isinstance(exc, QuotaExceeded):
        exc = exceptions.Throttled(wait=exc.retry_after, detail="; ".join(exc.messages))
    if isinstance(exc, ToolsNotFound):  # Letta's status and text, which clients key on
        return Response({"detail": exc.text}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, PendingApproval):  # Letta's 409 with its code; never retried
        body = {"detail": "; ".join(exc.messages), "code": PendingApproval.code}
        return Response(body, status=status.HTTP_409_CONFLICT, headers={"x-should-retry": "false"})
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail
        return Response(
            {"detail": "; ".join(_flatten(errors)), "errors": errors},
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" not in response.data:
        response.data = {"detail": "; ".join(_flatten(response.data))}
    if response is not None and response.status_code == status.HTTP_409_CONFLICT:
        response["x-should-retry"] = "false"
    return response


class HealthView(ApiView):
    authentication_classes: list[type] = []
    permission_classes: list[type] = []

    @extend_schema(
        operation_id="check_health",
        responses={
            200: inline_serializer(
                "Health",
                {
                    "version": serializers.CharField(help_text="The Letta server version Engram speaks for"),
                    "status": serializers.CharField(),
                    "engram_version": serializers.CharField(),
                    # Engram's own: the isolation custom tools run under here (agents.tools.sandbox).
                    "tool_sandbox": serializers.ChoiceField(choices=["bwrap", "process", "disabled"]),
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        # `version` is the Letta server release whose API this one matches: letta-code warns about a server
        # older than the one it was built for (0.16.6 for 0.32.x); Engram's own version is `engram_version`.
        return Response(
            {
                "version": settings.LETTA_COMPATIBLE_VERSION,
                "engram_version": settings.ENGRAM_VERSION,
                "status": "ok",
                "tool_sandbox": sandbox_status().mode,
            }
        )


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Not ready."
    default_code = "not_ready"


class ReadyView(ApiView):
    """Readiness for load balancers and orchestrators: 200 once the database (and Redis, when configured)
    answers, 503 otherwise. Public, like health."""

    authentication_classes: list[type] = []
    permission_classes: list[type] = []

    @extend_schema(
        operation_id="check_ready",
        responses={
            200: inline_serializer("Ready", {"version": serializers.CharField(), "status": serializers.CharField()})
        },
    )
    def get(self, request: Request) -> Response:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError:
            raise ServiceUnavailable("database: not reachable") from None
        if settings.REDIS_URL:
            import redis

            try:
                redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2).ping()
            except redis.RedisError:
                raise ServiceUnavailable("redis: not reachable") from None
        return Response({"version": settings.ENGRAM_VERSION, "status": "ok"})


def schema_endpoints(endpoints: list[tuple[str, str, str, Any]], **kwargs: Any) -> list[tuple[str, str, str, Any]]:
    """drf-spectacular hook: document each operation once, under `/v1/` and in the slash form the SDKs use
    (`/latest/` mirrors `/v1/`; a route without its trailing slash is an alias of the one with it)."""
    paths = {(p, m) for p, _, m, _ in endpoints}
    return [
        (p, regex, m, view)
        for p, regex, m, view in endpoints
        if p.startswith("/v1/") and not (not p.endswith("/") and (p + "/", m) in paths)
    ]
