"""fetch_webpage and web_search against tiny real HTTP servers; where they may connect is lib/netguard's rule."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from agents.services.tools import builtin_tools_ensure
from agents.tools.builtin import ToolContext
from agents.tools.execute import execute_tool

pytestmark = pytest.mark.django_db

PAGE = b"""<html><head><title>Cats</title><style>p{color:red}</style><script>var x = 1;</script></head>
<body><nav>Home | About</nav><h1>About cats</h1><p>Tom is a <b>tabby</b>.</p></body></html>"""


class Handler(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self):
        Handler.seen.append(self.path)
        parts = urlsplit(self.path)
        if parts.path == "/page":
            return self._send(200, "text/html; charset=utf-8", PAGE)
        if parts.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/page")
            self.end_headers()
            return None
        if parts.path == "/big":
            return self._send(200, "text/plain", b"x" * 5000)
        if parts.path == "/image":
            return self._send(200, "image/png", b"\x89PNG")
        if parts.path == "/search":
            query = parse_qs(parts.query)
            assert query["format"] == ["json"]
            results = [
                {"title": f"Result {i} for {query['q'][0]}", "url": f"https://example.org/{i}", "content": "snippet"}
                for i in range(5)
            ]
            return self._send(
                200, "application/json", json.dumps({"query": query["q"][0], "results": results}).encode()
            )
        return self._send(404, "text/plain", b"no")

    def _send(self, status, kind, body):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def call(make_agent):
    agent = make_agent()
    tools = builtin_tools_ensure()

    def run(name, **args):
        result = execute_tool(ToolContext(agent=agent, run_id=None, step_id=None), tools[name], args)
        return result.is_err, result.text

    return run


def test_fetch_webpage_returns_the_readable_text(call, site, settings):
    settings.ENGRAM_FETCH_ALLOW_PRIVATE = True
    is_err, text = call("fetch_webpage", url=f"{site}/moved")
    assert not is_err
    assert text.splitlines()[0] == "Cats"
    assert "About cats" in text and "Tom is a" in text and "tabby" in text
    assert "var x" not in text and "color:red" not in text and "Home | About" not in text


def test_fetch_webpage_limits(call, site, settings):
    settings.ENGRAM_FETCH_ALLOW_PRIVATE = True
    settings.ENGRAM_FETCH_MAX_BYTES = 1024
    is_err, text = call("fetch_webpage", url=f"{site}/big")
    assert is_err and "larger than 1024 bytes" in text
    is_err, text = call("fetch_webpage", url=f"{site}/image")
    assert is_err and "image/png" in text
    is_err, text = call("fetch_webpage", url=f"{site}/missing")
    assert is_err and "HTTP 404" in text
    is_err, text = call("fetch_webpage", url="file:///etc/passwd")
    assert is_err and "must be an http or https URL" in text


def test_fetch_webpage_refuses_loopback_and_private_addresses(call, site, settings):
    settings.ENGRAM_FETCH_ALLOW_PRIVATE = False
    before = len(Handler.seen)
    for url in (f"{site}/page", "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/"):
        is_err, text = call("fetch_webpage", url=url)
        assert is_err and "private, loopback or reserved address" in text, (url, text)
    assert len(Handler.seen) == before, "a refused address was contacted"


def test_web_search_through_searxng(call, site, settings):
    settings.ENGRAM_SEARXNG_URL = site
    settings.ENGRAM_FETCH_ALLOW_PRIVATE = False  # the operator's provider is trusted, wherever it is
    is_err, text = call("web_search", query="tabby cats", num_results=3)
    assert not is_err, text
    answer = json.loads(text)
    assert [r["title"] for r in answer["results"]] == [f"Result {i} for tabby cats" for i in range(3)]
    assert answer["results"][0] == {
        "title": "Result 0 for tabby cats",
        "url": "https://example.org/0",
        "content": "snippet",
    }


def test_web_search_without_a_provider_is_a_clear_tool_error(call, settings):
    settings.ENGRAM_SEARXNG_URL = ""
    settings.ENGRAM_BRAVE_SEARCH_API_KEY = ""
    is_err, text = call("web_search", query="cats")
    assert is_err and "web search is not configured" in text and "ENGRAM_SEARXNG_URL" in text
