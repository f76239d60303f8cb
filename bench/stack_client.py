"""The client side of a bench/stack.py stack: organizations with an owner and an API key (`Tenant`), made through
the account services in a `manage.py shell` child (the bench process never imports Django), and agents and
conversations made through the API as a client makes them. `Stack` has these as methods."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
MODEL = "openai/gpt-4o-mini"
EMBEDDING = "openai/text-embedding-3-small"  # answered by the fake LLM: no local ONNX model eating the CPU


@dataclass(frozen=True)
class Tenant:
    """An organization with one owner and an API key (Bearer token) of the owner's."""

    organization_id: str
    username: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


class StackClient:
    """Mixed into Stack: needs its daphne `url` and the `server_env()` its processes run with."""

    url: str

    def server_env(self) -> dict[str, str]:
        raise NotImplementedError

    def tenants(self, count: int, prefix: str = "bench") -> list[Tenant]:
        """Make `count` organizations, each with an owner and an API key, through the account services."""
        script = (
            "import json, uuid\n"
            "from accounts.models import Membership\n"
            "from accounts.services import apikey_create, organization_create, user_create\n"
            "out = []\n"
            f"for i in range({count}):\n"
            f"    org = organization_create(name=f'{prefix}-{{i}}')\n"
            f"    name = f'{prefix}-{{i}}-{{uuid.uuid4().hex[:8]}}'\n"
            "    user = user_create(username=name, password=None, organization=org, role=Membership.Role.OWNER)\n"
            "    key = apikey_create(user=user, name='bench').raw_key\n"
            "    out.append([str(org.id), name, key])\n"
            "print('TENANTS=' + json.dumps(out))\n"
        )
        done = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=ROOT,
            env=self.server_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("TENANTS=")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"creating tenants failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return [Tenant(org, name, key) for org, name, key in json.loads(lines[0].removeprefix("TENANTS="))]

    def api(
        self, tenant: Tenant, method: str, path: str, body: Any = None, timeout: float = 60, retries: int = 2
    ) -> Any:
        """One JSON request to the API as `tenant`, sent again on a 5xx or a lost connection up to `retries`
        times (setup calls: a busy or restarting server is not the point); raises on a non-2xx answer."""
        for attempt in range(retries + 1):
            try:
                response = httpx.request(
                    method, f"{self.url}{path}", json=body, headers=tenant.headers, timeout=timeout
                )
            except httpx.TransportError:
                if attempt == retries:
                    raise
                time.sleep(1 + attempt)
                continue
            if response.status_code < 500 or attempt == retries:
                break
            time.sleep(1 + attempt)
        response.raise_for_status()
        return response.json() if response.content else None

    def create_agent(self, tenant: Tenant, **body: Any) -> str:
        """POST /v1/agents (model and embedding answered by the fake LLM); returns the agent id."""
        body.setdefault("name", f"bench-{time.time_ns()}")
        body.setdefault("model", MODEL)
        body.setdefault("embedding", EMBEDDING)
        body.setdefault(
            "memory_blocks",
            [{"label": "human", "value": "Name: Ada"}, {"label": "persona", "value": "A patient assistant."}],
        )
        return str(self.api(tenant, "POST", "/v1/agents/", body)["id"])

    def create_conversation(self, tenant: Tenant, agent_id: str) -> str:
        return str(self.api(tenant, "POST", f"/v1/conversations/?agent_id={agent_id}", {})["id"])
