"""Letta's EmbeddingConfig for a model handle (agents, passages, folders)."""

from api.wire.blocks import JSON
from lib import catalogue, providers


def embedding_config(handle: str) -> JSON | None:
    if not handle:
        return None
    provider, name = catalogue.split_handle(handle)
    return {
        "embedding_endpoint_type": catalogue.embedding_endpoint_type(provider),
        "embedding_endpoint": None if provider == catalogue.LOCAL_PROVIDER else providers.endpoint_public(handle, {}),
        "embedding_model": name,
        "embedding_dim": catalogue.embedding_dim(handle),
        "embedding_chunk_size": 300,
        "handle": handle,
        "batch_size": 32,
    }
