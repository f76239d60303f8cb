"""Model providers: where the server's provider keys may be sent, and what clients may see of a provider failure.

The one rule for base URLs: a request made with the server's keys goes to the provider's own default (litellm's,
or the operator's `<PROVIDER>_API_BASE`), to `OPENAI_API_BASE` for `openai/*` handles, or to a URL the operator
listed in `ENGRAM_ALLOWED_API_BASES`. A per-agent `model_settings.api_base` is accepted on write only when it is one
of those, and at call time it is used only while it still is (rows written before this rule, or before the
operator dropped a URL, fall back to the default). Used by `agents.runtime.llm` (chat) and `memory.embeddings`,
so it lives outside both apps. Per-organization providers with their own keys (Letta's `/v1/providers`) do not
exist here.
"""

import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError

logger = logging.getLogger(__name__)

# Each provider's public endpoint: what the wire shows as `model_endpoint` when calls really go there, and the
# hosts a Letta agent file may name without being refused (the handle already leads to that provider).
PUBLIC_ENDPOINTS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "gemini": "https://generativelanguage.googleapis.com",
    "groq": "https://api.groq.com/openai/v1",
    "mistral": "https://api.mistral.ai/v1",
    "deepseek": "https://api.deepseek.com",
    "together_ai": "https://api.together.xyz/v1",
    "xai": "https://api.x.ai/v1",
    "openrouter": "https://openrouter.ai/api/v1",
}
_PUBLIC_HOSTS = {urlsplit(url).hostname for url in PUBLIC_ENDPOINTS.values()} | {
    "api.together.ai",
    "inference.letta.com",  # Letta Cloud's free model, found in files exported from Letta
}
_REFUSED = (
    "{url!r} is not a model endpoint this server is configured for; "
    "the operator can allow it with ENGRAM_ALLOWED_API_BASES (or OPENAI_API_BASE)"
)


def _normalise(url: str) -> str:
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, ""))


def configured_api_bases() -> frozenset[str]:
    bases = [settings.OPENAI_API_BASE, *settings.ENGRAM_ALLOWED_API_BASES]
    return frozenset(_normalise(base) for base in bases if base)


def api_base_allowed(url: str) -> bool:
    return _normalise(url) in configured_api_bases()


def api_base_for(model: str, model_settings: Mapping[str, Any]) -> str | None:
    """The base URL a call for `model` goes to with the server's key; None = the provider's default."""
    base = model_settings.get("api_base")
    if isinstance(base, str) and base:
        if api_base_allowed(base):
            return base
        logger.warning("ignoring an api_base the operator has not configured for %s", model)
    if model.startswith("openai/") and settings.OPENAI_API_BASE:
        return str(settings.OPENAI_API_BASE)
    return None


def api_base_clean(value: Any, *, field: str) -> str | None:
    """A per-agent api_base as written by a client: None/'' = none; anything but a configured URL is refused."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError({field: "must be a URL string"})
    if not api_base_allowed(value):
        raise ValidationError({field: _REFUSED.format(url=value[:200])})
    return value.strip()


def handle_has_address(handle: str) -> bool:
    """litellm takes a URL given as the model name for some providers (`huggingface/https://…`,
    `oobabooga/http://…`) and sends that provider's key there, so a handle may name a model, never an address."""
    return "://" in handle


def handle_clean(value: str, *, field: str) -> str:
    if handle_has_address(value):
        raise ValidationError({field: "must be a provider/model handle, not a URL (endpoints are the operator's)"})
    return value


def file_endpoint_clean(value: Any, *, model: str, field: str, hint: str = "") -> str | None:
    """A Letta file's `llm_config.model_endpoint` → the api_base to store, or None.

    A provider's public endpoint is ignored (the handle already leads there), as is the endpoint the handle
    would use anyway; another configured URL becomes the agent's api_base; anything else is refused."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError({field: "must be a URL string"})
    parts = urlsplit(value.strip())
    if parts.scheme == "https" and parts.hostname in _PUBLIC_HOSTS:
        return None
    try:
        base = api_base_clean(value, field=field)
    except ValidationError as exc:
        raise ValidationError({field: f"{exc.message_dict[field][0]}{hint}"}) from None
    default = api_base_for(model, {})
    if base is None or (default is not None and _normalise(default) == _normalise(base)):
        return None
    return base


def endpoint_public(model: str, model_settings: Mapping[str, Any]) -> str | None:
    """What members see as `model_endpoint`: the provider's public endpoint when calls go there, else None.

    An operator-configured URL (OPENAI_API_BASE, a listed base, `<PROVIDER>_API_BASE`) is internal topology."""
    provider, _, name = model.partition("/")
    if not name:
        provider = "openai"
    if api_base_for(model if name else f"openai/{model}", model_settings) is not None:
        return None
    if os.environ.get(f"{provider.upper()}_API_BASE") or os.environ.get(f"{provider.upper()}_BASE_URL"):
        return None
    return PUBLIC_ENDPOINTS.get(provider)


_STATUS_REASONS = {
    400: "bad request",
    401: "authentication failed",
    402: "payment required",
    403: "permission denied",
    404: "model or endpoint not found",
    408: "request timed out",
    413: "request too large",
    422: "request not accepted",
    429: "rate limited",
}
_UNREACHABLE_HINTS = (
    "connection error",
    "connection refused",
    "connection reset",
    "connecterror",
    "name or service not known",
)


def failure_reason(exc: BaseException, *, timeout: float | None = None) -> str:
    """A short, safe account of a provider failure for clients; the exception itself goes to the log only.

    Provider error text can carry library tracebacks, server paths, internal URLs or an echo of the key, so
    none of it is repeated: only the HTTP status and what it means."""
    kind = type(exc).__name__
    text = str(exc).lower()
    status = getattr(exc, "status_code", None)
    if "timeout" in kind.lower() or status == 408:
        seconds = timeout if timeout is not None else settings.ENGRAM_LLM_TIMEOUT
        return f"the model provider did not answer within {seconds:g} s"
    if kind == "APIConnectionError" or any(hint in text for hint in _UNREACHABLE_HINTS):
        return "the model provider could not be reached"
    if kind == "ContextWindowExceededError":
        return "the request is larger than the model's context window"
    if isinstance(status, int):
        meaning = _STATUS_REASONS.get(status) or ("server error" if status >= 500 else "request failed")
        return f"the model provider returned {status} ({meaning})"
    return "the model provider failed"
