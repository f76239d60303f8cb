"""A vector column that works on both database backends.

PostgreSQL stores an untyped pgvector ``vector`` (any dimension: the row's ``embedding_dim`` says which, and a
partial expression HNSW index per dimension serves it). SQLite stores little-endian float32 bytes, scanned with
numpy. Python code always sees a float32 numpy array (or None).
"""

from typing import Any

import numpy as np
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from numpy.typing import NDArray

Vector = NDArray[np.float32]


def vector_to_pg(vector: Any) -> str:
    return "[" + ",".join(map(str, np.asarray(vector, dtype=np.float32).tolist())) + "]"


def vector_to_blob(vector: Any) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_from_db(value: Any) -> Vector | None:
    if value is None:
        return None
    if isinstance(value, bytes | memoryview):
        return np.frombuffer(bytes(value), dtype="<f4").astype(np.float32)
    if isinstance(value, str):
        return np.array([float(x) for x in value.strip("[]").split(",") if x], dtype=np.float32)
    return np.asarray(value, dtype=np.float32)


class EmbeddingField(models.Field):  # type: ignore[type-arg]
    description = "Embedding vector (pgvector on PostgreSQL, float32 blob on SQLite)"
    empty_strings_allowed = False

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return "vector" if connection.vendor == "postgresql" else "blob"

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Vector | None:
        return vector_from_db(value)

    def to_python(self, value: Any) -> Vector | None:
        return vector_from_db(value)

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if value is None:
            return None
        if connection.vendor == "postgresql":
            return vector_to_pg(value)
        return vector_to_blob(value)
