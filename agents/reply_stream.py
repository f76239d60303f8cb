"""What a run's token deltas (runtime.events `agent.token`) say while they stream: reasoning, or the reply the user
sees. The one home of that reading, shared by the /v1 stream (api.views.streaming) and the ADE's chat socket
(ade.consumers), so a memgpt reply streams the same everywhere.

A v1 agent's `content` deltas are its reply. A memgpt agent's `content` is its inner monologue (reasoning); its
reply is the `message` argument of its `send_message` call (agents.messages), decoded out of the call's JSON
arguments as they stream in. Deltas of other tool calls say nothing yet: those calls arrive whole, as stored rows."""

import re
from dataclasses import dataclass, field
from typing import Literal

from agents.messages import REPLY_KWARG, SEND_MESSAGE

ReplyKind = Literal["reasoning", "reply"]


class StringArgument:
    """One string argument (`"message": "…"`) decoded out of a tool call's JSON arguments while they stream in:
    `feed` takes the next piece of the JSON and returns the text of the argument it completes."""

    _ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

    def __init__(self, key: str) -> None:
        self.opening = re.compile(r'"' + re.escape(key) + r'"\s*:\s*"')
        self.buffer = ""
        self.position: int | None = None  # where the undecoded rest of the string starts
        self.done = False

    def feed(self, piece: str) -> str:
        self.buffer += piece
        if self.done:
            return ""
        if self.position is None:
            match = self.opening.search(self.buffer)
            if match is None:
                return ""
            self.position = match.end()
        out: list[str] = []
        text, i = self.buffer, self.position
        while i < len(text):
            char = text[i]
            if char == '"':
                self.done = True
                break
            if char != "\\":
                out.append(char)
                i += 1
                continue
            if i + 1 >= len(text):
                break  # the escape continues in the next piece
            if text[i + 1] != "u":
                out.append(self._ESCAPES.get(text[i + 1], text[i + 1]))
                i += 2
                continue
            decoded, width = self._unicode(text, i)
            if width == 0:
                break
            out.append(decoded)
            i += width
        self.position = i
        return "".join(out)

    @staticmethod
    def _unicode(text: str, i: int) -> tuple[str, int]:
        """A \\uXXXX escape at `i` (two for a surrogate pair): (character, length), or ("", 0) until complete."""
        if i + 6 > len(text):
            return "", 0
        try:
            code = int(text[i + 2 : i + 6], 16)
        except ValueError:
            return text[i : i + 6], 6
        if 0xD800 <= code < 0xDC00:
            if i + 12 > len(text):
                return "", 0
            try:
                low = int(text[i + 8 : i + 12], 16) if text[i + 6 : i + 8] == "\\u" else -1
            except ValueError:
                low = -1
            if 0xDC00 <= low < 0xE000:
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), 12
        return chr(code), 6


@dataclass
class ReplyDeltas:
    """Reads one run's token deltas in order. `read(step_index, kind, delta)` answers what the delta shows:
    ("reasoning" | "reply", text), or None when it shows nothing (yet). `reply_tool`/`reply_kwarg` name the tool
    whose argument is the reply (None: no tool replies; Letta's `use_assistant_message=false`)."""

    memgpt: bool
    reply_tool: str | None = SEND_MESSAGE
    reply_kwarg: str = REPLY_KWARG
    # A reader that may join a run mid-way (an ADE socket opened during it) takes the first delta it sees of each
    # text as where that text starts for it; a /v1 stream reads every text from its start.
    joins_midway: bool = False
    replies: dict[int, StringArgument | None] = field(default_factory=dict)  # per step: the reply being called
    # Per (step, kind): where the next delta must start; None once one went missing (the channel layer drops events
    # when a channel is full): from then on that text shows nothing more until the stored message arrives whole.
    expected: dict[tuple[int, str], int | None] = field(default_factory=dict)

    def read(self, step_index: int, kind: str, delta: str, offset: int | None = None) -> tuple[ReplyKind, str] | None:
        """`offset`: where `delta` starts in its text (the event's; None when the publisher sent none)."""
        if offset is not None and not self._in_order(step_index, kind, offset, len(delta)):
            return None
        if kind == "reasoning" or (kind == "content" and self.memgpt):
            return ("reasoning", delta) if delta else None
        if kind == "content":
            return ("reply", delta) if delta else None
        if kind == "tool_name":
            replying = self.reply_tool is not None and delta == self.reply_tool
            self.replies[step_index] = StringArgument(self.reply_kwarg) if replying else None
            return None
        reply = self.replies.get(step_index)
        if kind == "tool_call" and reply is not None:
            text = reply.feed(delta)
            return ("reply", text) if text else None
        return None

    def _in_order(self, step_index: int, kind: str, offset: int, length: int) -> bool:
        """The delta continues its text exactly where the last one ended (a gap stops that text's deltas)."""
        key = (step_index, kind)
        expected = self.expected.get(key, offset if self.joins_midway else 0)
        if expected is None or offset != expected:
            self.expected[key] = None
            return False
        self.expected[key] = expected + length
        return True
