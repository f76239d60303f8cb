"""An agent's model and its settings, read from Letta's shapes: `model` / `embedding` handles, or the legacy
`llm_config` / `embedding_config` objects, and `model_settings` / `max_tokens`. One reading for the API's create
and modify and for agent-file import (pure; agent_create/agent_update then check the values).

Errors are ValidationError({path: reason}), the path under `prefix` (e.g. `agents[0].llm_config.handle`)."""

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from lib.providers import file_endpoint_clean

# What an agent's model_settings may hold; agent_create/agent_update refuse any other key.
MODEL_SETTING_KEYS = frozenset(
    {
        "temperature",
        "max_tokens",
        "max_output_tokens",
        "top_p",
        "api_base",
        "parallel_tool_calls",
        "reasoning_effort",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "response_format",
        "provider_type",
    }
)
# The settings each chat request carries as they are (agents.runtime.llm.build_request). parallel_tool_calls
# goes only with tools, max_tokens is the reply budget the context reserves, api_base is where the call goes.
REQUEST_SETTING_KEYS = ("temperature", "top_p", "frequency_penalty", "presence_penalty", "seed", "reasoning_effort")
# The settings taken from a Letta llm_config or model_settings object (model_settings wins).
LETTA_SETTING_KEYS = (
    "temperature",
    "max_tokens",
    "max_output_tokens",
    "parallel_tool_calls",
    "reasoning_effort",
    "response_format",
)


def _path(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _obj(data: Mapping[str, Any], key: str, prefix: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError({_path(prefix, key): "must be an object"})
    return value


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ValidationError({path: "must be a string"})
    return value


def _handle(
    data: Mapping[str, Any], *, key: str, config_key: str, name_key: str, type_key: str, prefix: str
) -> str | None:
    if data.get(key):
        return _text(data[key], _path(prefix, key))
    config = _obj(data, config_key, prefix)
    if config is None:
        return None
    at = _path(prefix, config_key)
    if config.get("handle"):
        return _text(config["handle"], f"{at}.handle")
    if config.get(name_key):
        # Letta's endpoint type names the provider (openai when absent).
        provider = _text(config.get(type_key) or "openai", f"{at}.{type_key}")
        return f"{provider}/{_text(config[name_key], f'{at}.{name_key}')}"
    return None


def model_handle_from_letta(data: Mapping[str, Any], *, prefix: str = "") -> str | None:
    """`model`, else `llm_config.handle`, else `<model_endpoint_type>/<llm_config.model>`; None when neither."""
    return _handle(
        data, key="model", config_key="llm_config", name_key="model", type_key="model_endpoint_type", prefix=prefix
    )


def embedding_handle_from_letta(data: Mapping[str, Any], *, prefix: str = "") -> str | None:
    """`embedding`, else `embedding_config.handle`, else `<embedding_endpoint_type>/<embedding_model>`."""
    return _handle(
        data,
        key="embedding",
        config_key="embedding_config",
        name_key="embedding_model",
        type_key="embedding_endpoint_type",
        prefix=prefix,
    )


def context_window_from_letta(data: Mapping[str, Any], *, prefix: str = "") -> Any:
    """`context_window_limit`, else `llm_config.context_window` (agent_create checks the value)."""
    if data.get("context_window_limit"):
        return data["context_window_limit"]
    config = _obj(data, "llm_config", prefix)
    return None if config is None else config.get("context_window")


def model_settings_from_letta(
    data: Mapping[str, Any], *, model: str | None, prefix: str = "", endpoint_hint: str = ""
) -> dict[str, Any] | None:
    """The settings a Letta request or file gives (None: none given): LETTA_SETTING_KEYS from `llm_config`, then
    from `model_settings` (with its `api_base`), then a top-level `max_tokens`.

    `llm_config.model_endpoint` becomes the agent's api_base when it is a URL the operator configured and not
    the one `model` goes to anyway (lib.providers.file_endpoint_clean); with `model` None (the caller chose
    another model) the endpoint does not apply."""
    out: dict[str, Any] = {}
    config = _obj(data, "llm_config", prefix)
    if model is not None and config is not None:
        base = file_endpoint_clean(
            config.get("model_endpoint"),
            model=model,
            field=_path(prefix, "llm_config.model_endpoint"),
            hint=endpoint_hint,
        )
        if base:
            out["api_base"] = base
    for key in ("llm_config", "model_settings"):
        source = _obj(data, key, prefix)
        if source is not None:
            out.update({k: source[k] for k in LETTA_SETTING_KEYS if source.get(k) is not None})
    given = _obj(data, "model_settings", prefix) or {}
    if given.get("api_base") is not None:
        out["api_base"] = given["api_base"]  # agent_create/agent_update refuse one the operator did not configure
    if data.get("max_tokens") is not None:
        out["max_tokens"] = data["max_tokens"]
    return out or None
