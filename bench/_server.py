"""Serve the app with daphne (a subprocess, production settings) on a benchmark's database, as a client meets it."""

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench._django import REPO


@dataclass(frozen=True)
class Served:
    url: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@contextmanager
def live_server(organization: Any, env: dict[str, str] | None = None) -> Iterator[Served]:
    """daphne on the benchmark's database (persistent connections, the embedded default embedder), and an API key
    of an owner of `organization`."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from accounts.models import Membership
    from accounts.services import apikey_create, user_create
    from tests.backing import free_port

    user = get_user_model().objects.filter(username="bench").first() or user_create(
        username="bench", password=None, organization=organization, role=Membership.Role.OWNER
    )
    key = apikey_create(user=user, name="bench").raw_key
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    else:
        url = f"sqlite:///{db['NAME']}"
    port = free_port()
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": url, **(env or {})}
    command = [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]
    server = subprocess.Popen(command, cwd=REPO, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/v1/health/", timeout=2) as response:  # noqa: S310 - local
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("daphne did not start")
            time.sleep(0.1)
        yield Served(url=base, api_key=key)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
