"""The web tools (Letta's `fetch_webpage` and `web_search`). Where they may connect is lib/netguard's rule."""

import json
from typing import Any

import httpx
from django.conf import settings

from agents.tools.base import JSON, ToolContext, ToolError, arg_int, arg_str, arg_str_list
from lib.netguard import AddressRefused, checked_get

USER_AGENT = "Engram/1.0 (+fetch_webpage)"
_DROP = ("script", "style", "noscript", "template", "svg", "head", "nav", "footer", "form", "iframe")


def html_to_text(html: str) -> str:
    """Readable text of an HTML page: the title, then the body's text by block, without scripts, styles and
    navigation, blank runs collapsed."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_DROP):
        tag.decompose()
    lines = [line.strip() for line in soup.get_text("\n").splitlines()]
    text = "\n".join(line for line in lines if line)
    return f"{title}\n\n{text}" if title and not text.startswith(title) else text


def _get(url: str, *, headers: dict[str, str] | None = None, trusted: bool = False) -> tuple[httpx.Response, bytes]:
    """`trusted`: the operator configured this address (a search provider, often on a private network)."""
    try:
        return checked_get(
            url,
            allow_private=trusted or settings.ENGRAM_FETCH_ALLOW_PRIVATE,
            setting="ENGRAM_FETCH_ALLOW_PRIVATE",
            timeout=settings.ENGRAM_FETCH_TIMEOUT,
            max_bytes=settings.ENGRAM_FETCH_MAX_BYTES,
            headers={"User-Agent": USER_AGENT, **(headers or {})},
        )
    except AddressRefused as exc:
        raise ToolError(f"cannot fetch {url}: {exc}") from None
    except httpx.TimeoutException:
        raise ToolError(f"cannot fetch {url}: no answer within {settings.ENGRAM_FETCH_TIMEOUT} s") from None
    except httpx.HTTPError as exc:
        raise ToolError(f"cannot fetch {url}: {type(exc).__name__}") from None


def fetch_webpage(ctx: ToolContext, args: JSON) -> str:
    url = arg_str(args, "url").strip()
    response, body = _get(url)
    if response.status_code >= 400:
        raise ToolError(f"{url} answered HTTP {response.status_code}")
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    text = body.decode(response.encoding or "utf-8", errors="replace")
    if kind in ("text/html", "application/xhtml+xml") or (not kind and "<html" in text[:1000].lower()):
        return html_to_text(text)
    if kind.startswith("text/") or kind in ("application/json", "application/xml") or kind.endswith("+json"):
        return text
    raise ToolError(f"{url} is {kind or 'of an unknown type'}, not a web page or text")


def _searxng(query: str, count: int) -> list[dict[str, Any]]:
    base = settings.ENGRAM_SEARXNG_URL.rstrip("/")
    url = str(httpx.URL(f"{base}/search", params={"q": query, "format": "json"}))
    response, body = _get(url, trusted=True)
    if response.status_code != 200:
        raise ToolError(f"the search provider answered HTTP {response.status_code}")
    try:
        results = json.loads(body).get("results") or []
    except (ValueError, AttributeError):
        raise ToolError("the search provider's answer is not SearXNG JSON") from None
    return [
        {"title": r.get("title", ""), "url": r.get("url", ""), "content": r.get("content", "")}
        for r in results[:count]
        if isinstance(r, dict)
    ]


def _brave(query: str, count: int) -> list[dict[str, Any]]:
    url = str(httpx.URL("https://api.search.brave.com/res/v1/web/search", params={"q": query, "count": count}))
    response, body = _get(url, headers={"X-Subscription-Token": settings.ENGRAM_BRAVE_SEARCH_API_KEY}, trusted=True)
    if response.status_code != 200:
        raise ToolError(f"the search provider answered HTTP {response.status_code}")
    try:
        results = (json.loads(body).get("web") or {}).get("results") or []
    except (ValueError, AttributeError):
        raise ToolError("the search provider's answer is not the Brave Search JSON") from None
    return [
        {"title": r.get("title", ""), "url": r.get("url", ""), "content": r.get("description", "")}
        for r in results[:count]
        if isinstance(r, dict)
    ]


def web_search(ctx: ToolContext, args: JSON) -> str:
    query = arg_str(args, "query").strip()
    if not query:
        raise ToolError("query must not be empty")
    count = arg_int(args, "num_results", 10, minimum=1, maximum=50)
    include = arg_str_list(args, "include_domains") or []
    exclude = arg_str_list(args, "exclude_domains") or []
    terms = [query, *(f"site:{d}" for d in include[:1]), *(f"-site:{d}" for d in exclude)]
    if settings.ENGRAM_SEARXNG_URL:
        results = _searxng(" ".join(terms), count)
    elif settings.ENGRAM_BRAVE_SEARCH_API_KEY:
        results = _brave(" ".join(terms), count)
    else:
        raise ToolError(
            "web search is not configured on this server (the operator sets ENGRAM_SEARXNG_URL or "
            "ENGRAM_BRAVE_SEARCH_API_KEY)"
        )
    return json.dumps({"query": query, "results": results}, ensure_ascii=False)
