"""Custom tools run in a separate Python process (isolated mode, no Django, a timeout), never in the worker."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from agents.models import Tool

TIMEOUT_SECONDS = 30

_RUNNER = r"""
import json, sys
payload = json.loads(sys.stdin.read())
namespace = {"__name__": "engram_tool"}
exec(compile(payload["source"], "<tool>", "exec"), namespace)
result = namespace[payload["name"]](**payload["args"])
sys.stdout.write("\n\x00ENGRAM_RESULT\x00" + json.dumps(result, default=str))
"""


class CustomToolError(Exception):
    def __init__(self, message: str, *, stdout: str = "", stderr: str = "") -> None:
        super().__init__(message)
        self.stdout, self.stderr = stdout, stderr


@dataclass(frozen=True)
class CustomToolOutput:
    result: str
    stdout: str  # what the tool printed
    stderr: str


def run_custom_tool_output(tool: Tool, args: dict[str, Any], *, env: dict[str, str] | None = None) -> CustomToolOutput:
    """Run the tool's function in a fresh `python -I` process; `env` adds variables to its environment."""
    payload = json.dumps({"source": tool.source_code, "name": tool.json_schema.get("name", tool.name), "args": args})
    try:
        proc = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments; the code is the user's tool)
            [sys.executable, "-I", "-c", _RUNNER],
            input=payload,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
            env={**os.environ, **env} if env else None,
        )
    except subprocess.TimeoutExpired:
        raise CustomToolError(f"the tool timed out after {TIMEOUT_SECONDS} s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["the tool failed"])[-1]
        raise CustomToolError(last, stdout=proc.stdout, stderr=proc.stderr)
    printed, _, result = proc.stdout.rpartition("\n\x00ENGRAM_RESULT\x00")
    value = json.loads(result) if result else None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return CustomToolOutput(result=text, stdout=printed, stderr=proc.stderr)


def run_custom_tool(tool: Tool, args: dict[str, Any]) -> str:
    return run_custom_tool_output(tool, args).result
