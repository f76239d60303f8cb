"""LLM access: the only module that imports litellm (lazily: importing it takes ~2 s).

`complete()` sends one chat-completion request for any litellm `provider/model` handle, retries 429/5xx/
timeouts/connection errors with exponential backoff (ENGRAM_LLM_MAX_RETRIES, ENGRAM_LLM_RETRY_BACKOFF_MS), and
raises one of the LLMError subclasses below when it gives up. Token counting and model windows live here too."""

import functools
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from opentelemetry.trace import SpanKind

from agents.model_settings import REQUEST_SETTING_KEYS
from agents.models import StopReason
from lib import metrics, providers, tracing

logger = logging.getLogger(__name__)

JSON = dict[str, Any]
# "tool_name": a tool call starts (the delta is its function's name); "tool_call": its arguments' JSON, in pieces.
DeltaKind = Literal["content", "reasoning", "tool_name", "tool_call"]
OnDelta = Callable[[DeltaKind, str], None]

_OVERFLOW_HINTS = ("context length", "context_length", "maximum context", "context window", "too many tokens")


class LLMError(Exception):
    """The provider call failed for good. `stop_reason` is what the run records.

    `str(exc)` is the provider's full account (for the log); `reason` is the short one clients may see."""

    stop_reason: str = StopReason.LLM_API_ERROR

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason or message


class ProviderTransientError(LLMError):
    """429, 5xx, timeouts, connection errors: still failing after the bounded retries."""


class ContextOverflowError(LLMError):
    """The provider says the request is larger than the model's window."""

    stop_reason = StopReason.CONTEXT_WINDOW_OVERFLOW


@dataclass
class ToolCallOut:
    id: str
    name: str
    arguments: str  # raw JSON text as the model produced it (may be malformed)


@dataclass
class LLMResponse:
    content: str
    reasoning: str
    tool_calls: list[ToolCallOut]
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    raw: JSON = field(default_factory=dict)
    attempts: int = 1


_import_lock = threading.Lock()


@functools.cache
def _litellm() -> Any:
    with _import_lock:
        import litellm

        litellm.suppress_debug_info = True
        # Engram registers no litellm logging callbacks, so nothing receives the prompts; with redaction on,
        # litellm would deep-copy every request and response (on a thread of ours) only to redact them.
        litellm.turn_off_message_logging = False
        litellm.drop_params = True  # providers that lack a parameter (e.g. parallel_tool_calls) ignore it
        return litellm


def warm() -> None:
    """Load the LLM client library (litellm: seconds of imports, more on a busy machine) and its tokenizer now. A
    Celery worker does it before its pool forks (config.celery), so a pool process or thread does not pay for it
    in its first run, holding that run's pooled connection meanwhile (a PostgreSQL restart then broke it, and a
    fresh send waited for every pool process to finish its imports)."""
    count_tokens("openai/gpt-4o-mini", messages=[{"role": "user", "content": "warm"}])


# Which base URL a call with the server's key may go to is decided in one place, shared with embeddings.
api_base_for = providers.api_base_for


@functools.lru_cache(maxsize=256)
def model_window(model: str) -> int | None:
    """The model's input window according to litellm's model map, or None when unknown."""
    try:
        info = _litellm().get_model_info(model)
    except Exception:
        return None
    value = info.get("max_input_tokens") or info.get("max_tokens")
    return int(value) if value else None


def count_tokens(model: str, *, messages: list[JSON] | None = None, tools: list[JSON] | None = None) -> int:
    """Tokens of a request with the model's tokenizer (litellm); chars/4 when litellm cannot count it."""
    try:
        return int(_litellm().token_counter(model=model, messages=messages or [], tools=tools or None))
    except Exception:
        chars = len(json.dumps(messages or [])) + len(json.dumps(tools or []))
        return chars // 4 + 1


def _classify(exc: Exception, timeout: float) -> LLMError:
    litellm = _litellm()
    status = getattr(exc, "status_code", None)
    text = str(exc)
    reason = providers.failure_reason(exc, timeout=timeout)
    if isinstance(exc, litellm.ContextWindowExceededError) or (
        status in (400, 413) and any(h in text.lower() for h in _OVERFLOW_HINTS)
    ):
        return ContextOverflowError(text, status=status, reason="the request is larger than the model's context window")
    transient = (
        litellm.RateLimitError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.APIConnectionError,
        litellm.Timeout,
        litellm.BadGatewayError,
    )
    if isinstance(exc, transient) or (isinstance(status, int) and (status == 429 or status >= 500)):
        return ProviderTransientError(text, status=status, reason=reason)
    return LLMError(text, status=status, reason=reason)


def _backoff(attempt: int) -> float:
    base = settings.ENGRAM_LLM_RETRY_BACKOFF_MS / 1000
    return float(min(30.0, base * (2**attempt)) * (0.5 + random.random() / 2))  # noqa: S311 (jitter)


def build_request(
    *,
    model: str,
    messages: list[JSON],
    tools: list[JSON],
    model_settings: JSON,
    max_tokens: int | None,
    tool_choice: str | JSON | None,
) -> JSON:
    """The request as recorded on the Step (exactly what is sent, minus credentials)."""
    request: JSON = {"model": model, "messages": messages}
    if tools:
        request["tools"] = tools
        if tool_choice:
            request["tool_choice"] = tool_choice
    for key in REQUEST_SETTING_KEYS:
        if model_settings.get(key) is not None:
            request[key] = model_settings[key]
    if tools and model_settings.get("parallel_tool_calls") is not None:
        request["parallel_tool_calls"] = model_settings["parallel_tool_calls"]
    if max_tokens:
        request["max_tokens"] = max_tokens
    return request


def complete(
    request: JSON,
    *,
    api_base: str | None = None,
    on_delta: OnDelta | None = None,
    timeout: float | None = None,
) -> LLMResponse:
    """Send `request` (see build_request). Streams when `on_delta` is given. Retries transient failures."""
    with tracing.span("llm_request", kind=SpanKind.CLIENT, model=request["model"], stream=on_delta is not None) as span:
        try:
            result = _complete(request, api_base=api_base, on_delta=on_delta, timeout=timeout)
        except LLMError as exc:
            tracing.mark_error(span, exc.reason)
            raise
        tracing.set_attributes(
            span,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cost=result.cost,
            attempts=result.attempts,
        )
        return result


def _complete(request: JSON, *, api_base: str | None, on_delta: OnDelta | None, timeout: float | None) -> LLMResponse:
    litellm = _litellm()
    kwargs: JSON = dict(request)
    timeout = timeout or settings.ENGRAM_LLM_TIMEOUT
    kwargs.update(num_retries=0, max_retries=0, timeout=timeout)
    # Callers pass api_base_for()'s answer and validated handles; this stops any other path (an old row, a
    # setting written around the services) from sending a key elsewhere.
    if api_base and not providers.api_base_allowed(api_base):
        raise LLMError(f"refused api_base {api_base!r}", reason="the model endpoint is not configured on this server")
    if providers.handle_has_address(request["model"]):
        raise LLMError(f"refused model {request['model']!r}", reason="the model handle names an address")
    if api_base:
        kwargs["api_base"] = api_base
        if request["model"].startswith("openai/"):
            # An OpenAI-compatible server (vLLM, LM Studio, Ollama's /v1, a proxy): litellm's generic
            # OpenAI-compatible HTTP handler sends the same JSON without the openai SDK's per-message
            # parameter transform, which costs ~0.25 ms per message of history on every call.
            kwargs["model"] = "hosted_vllm/" + request["model"].removeprefix("openai/")
            if not _has_openai_key():
                kwargs["api_key"] = "not-needed"  # local servers ignore the key
            else:
                kwargs["api_key"] = _openai_key()
    attempts = settings.ENGRAM_LLM_MAX_RETRIES + 1
    started = time.perf_counter()
    for attempt in range(attempts):
        try:
            response = litellm.completion(**kwargs) if on_delta is None else _stream(litellm, kwargs, on_delta)
            result = _parse(litellm, response, request["model"])
            result.attempts = attempt + 1
            _observe(request["model"], started, result=result)
            return result
        except Exception as exc:  # classify every provider failure
            error = _classify(exc, timeout)
            if not isinstance(error, ProviderTransientError) or attempt + 1 >= attempts:
                _observe(request["model"], started, error=error)
                raise error from exc
            delay = _backoff(attempt)
            logger.info("LLM call failed (%s); retry %d/%d in %.2fs", error.status, attempt + 1, attempts - 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def _observe(model: str, started: float, *, result: LLMResponse | None = None, error: LLMError | None = None) -> None:
    """The one place an LLM call is counted (steps, summaries, any caller)."""
    metrics.LLM_CALLS.labels(model, "error" if error else "ok").inc()
    metrics.LLM_LATENCY.labels(model).observe(time.perf_counter() - started)
    if result is not None:
        metrics.LLM_TOKENS.labels(model, "prompt").inc(result.prompt_tokens)
        metrics.LLM_TOKENS.labels(model, "completion").inc(result.completion_tokens)
        metrics.LLM_COST.labels(model).inc(result.cost)
    if error is not None:
        metrics.LLM_ERRORS.labels(model, error.stop_reason if error.status is None else str(error.status)).inc()


def _has_openai_key() -> bool:
    return bool(_openai_key())


def _openai_key() -> str:
    import os

    return os.environ.get("OPENAI_API_KEY", "")


def _stream(litellm: Any, kwargs: JSON, on_delta: OnDelta) -> Any:
    chunks = []
    stream = litellm.completion(**kwargs, stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        chunks.append(chunk)
        for choice in getattr(chunk, "choices", None) or []:
            delta = choice.delta
            if getattr(delta, "reasoning_content", None):
                on_delta("reasoning", delta.reasoning_content)
            if getattr(delta, "content", None):
                on_delta("content", delta.content)
            for call in getattr(delta, "tool_calls", None) or []:
                function = getattr(call, "function", None)
                if function is not None and function.name:
                    on_delta("tool_name", function.name)
                if function is not None and function.arguments:
                    on_delta("tool_call", function.arguments)
    return litellm.stream_chunk_builder(chunks, messages=kwargs["messages"])


def _parse(litellm: Any, response: Any, model: str) -> LLMResponse:
    choice = response.choices[0]
    message = choice.message
    calls = []
    for index, call in enumerate(getattr(message, "tool_calls", None) or []):
        calls.append(
            ToolCallOut(
                id=call.id or f"call_{index}",
                name=call.function.name or "",
                arguments=call.function.arguments or "",
            )
        )
    usage = getattr(response, "usage", None)
    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    # Priced by the agent's model handle (an openai/* model behind an OpenAI-compatible URL is sent as
    # hosted_vllm/*, which litellm's price list does not know); 0 for models without a price.
    try:
        prices = litellm.cost_per_token(model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        cost = sum(prices)
    except Exception:
        cost = 0.0
    raw = response.model_dump() if hasattr(response, "model_dump") else dict(response)
    return LLMResponse(
        content=message.content or "",
        reasoning=getattr(message, "reasoning_content", None) or "",
        tool_calls=calls,
        finish_reason=choice.finish_reason or "",
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=float(cost),
        raw=json.loads(json.dumps(raw, default=str)),
    )
