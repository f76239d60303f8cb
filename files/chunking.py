"""Text → chunks that respect its structure and the embedding model's input limit, counted in its tokens.

The text is cut into blocks first: a fenced code block (```), a heading with what follows it up to the next
blank line, a paragraph. Blocks are then packed into chunks of up to `max_tokens` tokens of the folder's
embedding model (its own tokenizer counts them: memory.embeddings.token_counter); a heading always starts a new
chunk, and a block longer than a chunk is split at line ends (then sentence ends, then spaces). Every chunk is
measured whole at the end and split again if it is still over the limit, so the model never truncates one.
Each chunk knows the 1-based lines it covers, so a search hit can be opened at its place."""

import math
import re
from dataclasses import dataclass

from memory.embeddings import LOCAL_MAX_TOKENS, LOCAL_MINILM, LOCAL_WORDLLAMA, TokenCounter

CHARS_PER_TOKEN = 3.0  # the estimate when a model's tokenizer is not available: low, so chunks stay under
# WordLlama reads any length, but a chunk's vector is the mean of its tokens': MiniLM's size (in Llama 2's tokens,
# which its tokenizer counts) keeps a hit as focused.
MODEL_MAX_TOKENS = {LOCAL_MINILM: LOCAL_MAX_TOKENS, LOCAL_WORDLLAMA: LOCAL_MAX_TOKENS}
DEFAULT_MAX_TOKENS = 512
MIN_TOKENS = 16
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^#{1,6}\s")


@dataclass(frozen=True)
class Chunk:
    text: str
    start_line: int
    end_line: int


def chunk_tokens(model: str, chunk_size: int) -> int:
    """Tokens per chunk for a folder's model and its chunk size: capped by what the model reads."""
    return max(MIN_TOKENS, min(chunk_size, MODEL_MAX_TOKENS.get(model, DEFAULT_MAX_TOKENS)))


def estimated_counter(texts: list[str]) -> list[int]:
    return [math.ceil(len(text) / CHARS_PER_TOKEN) for text in texts]


def _blocks(lines: list[str]) -> list[tuple[int, int, bool]]:
    """(first line index, end index (exclusive), is a heading) of each block."""
    blocks: list[tuple[int, int, bool]] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        start = i
        if _FENCE.match(lines[i]):
            fence = _FENCE.match(lines[i]).group(1)  # type: ignore[union-attr]
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith(fence):
                i += 1
            i = min(i + 1, len(lines))
            blocks.append((start, i, False))
            continue
        heading = bool(_HEADING.match(lines[i]))
        i += 1
        while i < len(lines) and lines[i].strip() and not _FENCE.match(lines[i]) and not _HEADING.match(lines[i]):
            i += 1
        blocks.append((start, i, heading))
    return blocks


def _split_long(text: str, max_chars: int) -> list[str]:
    """A block longer than a chunk, cut at the last line end, else sentence end, else space before the limit."""
    parts: list[str] = []
    while len(text) > max_chars:
        window = text[:max_chars]
        cut = window.rfind("\n")
        if cut < max_chars // 3:
            ends = [m.end() for m in re.finditer(r"[.!?]\s", window)]
            cut = ends[-1] if ends and ends[-1] > max_chars // 3 else window.rfind(" ")
        if cut < max(1, max_chars // 3):
            cut = max_chars
        parts.append(text[:cut])
        text = text[cut:]
    if text:
        parts.append(text)
    return parts


def chunk_text(text: str, *, max_tokens: int, count: TokenCounter = estimated_counter) -> list[Chunk]:
    """Chunks of at most `max_tokens` tokens as `count` measures them (special tokens included)."""
    lines = text.split("\n")
    blocks = [(start, end, heading, "\n".join(lines[start:end]).strip("\n")) for start, end, heading in _blocks(lines)]
    if not blocks:
        return []
    overhead = count([""])[0]  # [CLS] and [SEP]: once per chunk, not per block
    budget = max(1, max_tokens - overhead)
    sizes = [n - overhead for n in count([block for *_, block in blocks])]
    chunks: list[Chunk] = []
    current: list[str] = []
    used = first = last = 0

    def flush() -> None:
        nonlocal current, used
        body = "\n\n".join(current).strip()
        if body:
            chunks.append(Chunk(body, first + 1, last))
        current, used = [], 0

    for (start, end, heading, block), size in zip(blocks, sizes, strict=True):
        if current and (heading or used + size > budget):
            flush()
        if size > budget:  # a block longer than a chunk: on its own, split below
            chunks.append(Chunk(block.strip(), start + 1, end))
            continue
        if not current:
            first = start
        current.append(block)
        used += size
        last = end
    flush()
    # Blocks joined by blank lines may count a little differently from their sum: measure each chunk whole.
    sized = count([chunk.text for chunk in chunks])
    out: list[Chunk] = []
    for chunk, size in zip(chunks, sized, strict=True):
        out += [chunk] if size <= max_tokens else _fit(chunk, size, max_tokens, count)
    return out


def _fit(chunk: Chunk, size: int, max_tokens: int, count: TokenCounter) -> list[Chunk]:
    """A chunk over the limit, split into pieces that are not (characters per piece estimated from its density)."""
    limit = max(1, min(len(chunk.text) - 1, int(len(chunk.text) * max_tokens / size * 0.9)))
    pieces: list[Chunk] = []
    line = chunk.start_line
    for piece in _split_long(chunk.text, limit):
        body = piece.strip()
        if body:
            start = line + piece[: len(piece) - len(piece.lstrip())].count("\n")
            pieces.append(Chunk(body, start, min(chunk.end_line, start + body.count("\n"))))
        line += piece.count("\n")
    out: list[Chunk] = []
    for part, part_size in zip(pieces, count([p.text for p in pieces]), strict=True):
        out += [part] if part_size <= max_tokens else _fit(part, part_size, max_tokens, count)
    return out
