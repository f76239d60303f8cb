"""Chat text as Markdown: rendered on the server by markdown-it-py (CommonMark, raw HTML off), then cleaned by nh3
(the ammonia sanitizer) down to a short list of tags, so neither the model nor a user can put script, styles,
forms or `javascript:` links into the page."""

from functools import lru_cache

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

# breaks: a single newline is a line break, as people type in a chat box.
_MD = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(["table", "strikethrough"])

TAGS = {
    "p", "br", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"style"}, "td": {"style"}}


CACHED_CHARS = 4_000  # texts up to this long are remembered (at most 2,048 of them, so a few MB)


def render_markdown(text: str) -> SafeString:
    # The chat re-reads its tail on every event, so the same texts come back again and again (~1.5 ms each).
    html = _render_cached(text) if len(text) <= CACHED_CHARS else _render(text)
    return mark_safe(html)  # noqa: S308 - sanitized by nh3 in _render


def _render(text: str) -> str:
    html = _MD.render(text)
    clean: str = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )
    return clean


_render_cached = lru_cache(maxsize=2048)(_render)
