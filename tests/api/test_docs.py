"""The API docs page (/v1/docs/) loads its viewer from this server: no CDN, no outside fonts."""

import re
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_docs_page_references_no_other_host_and_its_viewer_is_served(alice: Any) -> None:
    client = Client()
    client.force_login(alice)
    response = client.get("/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"(https?:)?//", html), re.findall(r"[^\"']*//[^\"']*", html)
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
    assert scripts and all(src.startswith("/static/") for src in scripts), scripts
    for src in scripts:
        asset = client.get(src)
        assert asset.status_code == 200, src
        body = b"".join(asset.streaming_content) if asset.streaming else asset.content
        assert b"Redoc" in body and len(body) > 100_000, src
    assert re.search(r'spec-url="/v1/openapi.json"', html)
