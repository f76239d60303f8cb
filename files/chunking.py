"""Text → chunks that respect its structure and the embedding model's input limit.

The text is cut into blocks first: a fenced code block (```), a heading with what follows it up to the next
blank line, a paragraph. Blocks are then packed into chunks of up to `max_chars` characters; a heading always
starts a new chunk, and a block longer than a chunk is split at line ends (then sentence ends, then spaces).
Each chunk knows the 1-based lines it covers, so a search hit can be opened at its place."""

import re
from dataclasses import dataclass

CHARS_PER_TOKEN = 3.2  # wordpiece tokens of English prose and code average a little over three characters
MODEL_MAX_TOKENS = {"local/all-minilm-l6-v2-int8": 256}
DEFAULT_MAX_TOKENS = 512
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^#{1,6}\s")


@dataclass(frozen=True)
class Chunk:
    text: str
    start_line: int
    end_line: int


def chunk_chars(model: str, chunk_tokens: int) -> int:
    """Characters per chunk for a folder's model and its chunk size in tokens (capped by what the model reads)."""
    tokens = min(chunk_tokens, MODEL_MAX_TOKENS.get(model, DEFAULT_MAX_TOKENS))
    return max(200, int(tokens * CHARS_PER_TOKEN))


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
        if cut < max_chars // 3:
            cut = max_chars
        parts.append(text[:cut])
        text = text[cut:]
    if text:
        parts.append(text)
    return parts


def chunk_text(text: str, max_chars: int) -> list[Chunk]:
    lines = text.split("\n")
    chunks: list[Chunk] = []
    current: list[str] = []
    first = last = 0

    def flush() -> None:
        nonlocal current
        body = "\n\n".join(current).strip()
        if body:
            chunks.append(Chunk(body, first + 1, last))
        current = []

    for start, end, heading in _blocks(lines):
        block = "\n".join(lines[start:end]).strip("\n")
        size = sum(len(part) + 2 for part in current)
        if current and (heading or size + len(block) > max_chars):
            flush()
        if not current:
            first = start
        if len(block) > max_chars:
            flush()
            line = start
            for piece in _split_long(block, max_chars):
                if piece.strip():
                    lines_in = piece.count("\n")
                    chunks.append(Chunk(piece.strip(), line + 1, min(end, line + lines_in + 1)))
                line += piece.count("\n")
            continue
        current.append(block)
        last = end
    flush()
    return chunks
