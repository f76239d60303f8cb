"""The provider and model catalogue: Letta's name for each litellm provider, which providers this server is
configured for, the well-known chat models offered per provider (with their context windows) and the embedding
models with their dimensions. `/v1/models`, `/v1/models/embedding` and the wire's llm_config/embedding_config
read it here. Any other litellm handle still works when given to an agent; this is what pickers show.
Where a provider's calls may go (and its public endpoint) is lib.providers."""

import os
from importlib.util import find_spec

from django.conf import settings

# Letta's provider names (`model_endpoint_type`, `provider_type`) for litellm prefixes; anything else is reported
# as OpenAI-compatible.
ENDPOINT_TYPES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google_ai",
    "vertex_ai": "google_vertex",
    "azure": "azure",
    "groq": "groq",
    "ollama": "ollama",
    "ollama_chat": "ollama",
    "mistral": "mistral",
    "together_ai": "together",
    "bedrock": "bedrock",
    "deepseek": "deepseek",
    "xai": "xai",
    "openrouter": "openrouter",
    "fireworks_ai": "fireworks",
    "lm_studio": "lmstudio",
    "hosted_vllm": "vllm",
}
# Engram's in-process embedding models (memory.embeddings); Letta calls such endpoints hugging-face.
LOCAL_PROVIDER = "local"
LOCAL_ENDPOINT_TYPE = "hugging-face"

# A provider is offered when one of these environment variables (or settings) is set.
CONFIGURED_BY: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY", "OPENAI_API_BASE"),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "ollama": ("OLLAMA_API_BASE",),
}
# Well-known chat models per provider and their context windows (tokens).
CHAT_MODELS: dict[str, dict[str, int]] = {
    "openai": {"gpt-4o-mini": 128_000, "gpt-4o": 128_000, "gpt-4.1": 1_047_576, "gpt-4.1-mini": 1_047_576},
    "anthropic": {"claude-sonnet-4-5": 200_000, "claude-haiku-4-5": 200_000},
    "gemini": {"gemini-2.5-flash": 1_048_576, "gemini-2.5-pro": 1_048_576},
    "groq": {"llama-3.3-70b-versatile": 131_072},
    "mistral": {"mistral-large-latest": 131_072},
    "deepseek": {"deepseek-chat": 65_536},
    "ollama": {},
}
# The window listed for the server's default model when the catalogue does not know it.
DEFAULT_CONTEXT_WINDOW = 128_000
# Embedding models offered per provider (the local ones always), and the dimension of each known model.
EMBEDDING_MODELS: dict[str, tuple[str, ...]] = {
    "openai": ("openai/text-embedding-3-small", "openai/text-embedding-3-large"),
}
LOCAL_EMBEDDING = "local/all-minilm-l6-v2-int8"
# Opt-in: a static model, ~100x faster to embed with and much weaker at retrieval (for big document folders).
LOCAL_STATIC_EMBEDDING = "local/wordllama-l2-256"
LOCAL_EMBEDDINGS = (LOCAL_EMBEDDING, LOCAL_STATIC_EMBEDDING)
EMBEDDING_DIMS = {
    "local/all-minilm-l6-v2": 384,
    "local/all-minilm-l6-v2-int8": 384,
    "local/wordllama-l2-256": 256,
    "openai/text-embedding-3-small": 1536,
    "openai/text-embedding-3-large": 3072,
    "openai/text-embedding-ada-002": 1536,
}
DEFAULT_EMBEDDING_DIM = 1536  # what Letta reports for a model it does not know


def split_handle(handle: str) -> tuple[str, str]:
    """(provider, model name) of a `provider/model` handle; a bare name is OpenAI's."""
    provider, _, name = handle.partition("/")
    return (provider, name) if name else ("openai", provider)


def endpoint_type(provider: str) -> str:
    return ENDPOINT_TYPES.get(provider, "openai")


def embedding_endpoint_type(provider: str) -> str:
    return LOCAL_ENDPOINT_TYPE if provider == LOCAL_PROVIDER else endpoint_type(provider)


def embedding_dim(handle: str) -> int:
    return EMBEDDING_DIMS.get(handle, DEFAULT_EMBEDDING_DIM)


def provider_configured(provider: str) -> bool:
    return any(os.environ.get(name) or getattr(settings, name, None) for name in CONFIGURED_BY.get(provider, ()))


def providers() -> list[str]:
    """The chat providers this server is configured for (and the server default model's), in a stable order."""
    names = [p for p in CHAT_MODELS if provider_configured(p)]
    default = split_handle(settings.ENGRAM_DEFAULT_MODEL)[0]
    return names if default in names else [*names, default]


def chat_models() -> dict[str, int]:
    """Handle → context window of the chat models offered: the configured providers' and the server default."""
    handles: dict[str, int] = {}
    for provider, models in CHAT_MODELS.items():
        if provider_configured(provider):
            handles.update({f"{provider}/{name}": window for name, window in models.items()})
    handles.setdefault(settings.ENGRAM_DEFAULT_MODEL, DEFAULT_CONTEXT_WINDOW)
    return handles


def embedding_models() -> list[str]:
    """The embedding handles offered: the local models (the static one where its package is installed: it has
    wheels for Linux x86_64, macOS and Windows only), the configured providers', and the server default."""
    handles = [h for h in LOCAL_EMBEDDINGS if h != LOCAL_STATIC_EMBEDDING or find_spec("wordllama") is not None]
    for provider, names in EMBEDDING_MODELS.items():
        if provider_configured(provider):
            handles += list(names)
    if settings.ENGRAM_DEFAULT_EMBEDDING not in handles:
        handles.append(settings.ENGRAM_DEFAULT_EMBEDDING)
    return handles
