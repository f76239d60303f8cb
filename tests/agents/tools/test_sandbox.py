"""Custom tools run sandboxed: the server's environment, files, network and resources stay out of reach."""

import json
import os
import shutil
import socket
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from agents.models import Tool
from agents.tools.custom import CustomToolError, run_custom_tool
from agents.tools.sandbox import sandbox_status

MODES = ["bwrap", "process"]


@pytest.fixture(autouse=True)
def bubblewrap_and_root():
    assert shutil.which("bwrap"), "the sandbox tests need bubblewrap: apt-get install bubblewrap (make test does)"
    assert os.geteuid() == 0, "these tests run tools as unprivileged uids of their own, which needs root"


def tool(source: str) -> Tool:
    name = source.split("def ", 1)[1].split("(", 1)[0]
    return Tool(name=name, source_code=source, json_schema={"name": name})


def run(source: str, **args):
    return run_custom_tool(tool(source), args)


@pytest.mark.parametrize("mode", MODES)
def test_a_tool_sees_none_of_the_servers_environment_and_starts_in_an_empty_directory(settings, monkeypatch, mode):
    settings.ENGRAM_TOOL_SANDBOX = mode
    monkeypatch.setenv("ENGRAM_CANARY", "server-secret")
    seen = json.loads(
        run(
            "def peek() -> dict:\n"
            "    import os\n"
            "    return {'env': dict(os.environ), 'cwd': os.listdir('.'), 'home': os.environ['HOME']}\n"
        )
    )
    assert "ENGRAM_CANARY" not in seen["env"]
    assert "server-secret" not in json.dumps(seen)
    assert not {"DATABASE_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"} & set(seen["env"])
    assert seen["cwd"] == []
    assert Path(seen["home"]) != Path.home()


def test_under_bubblewrap_the_servers_files_do_not_exist(settings):
    settings.ENGRAM_TOOL_SANDBOX = "bwrap"
    source = "def read(path: str) -> str:\n    return open(path).read()\n"
    project_file = str(Path(django_settings.BASE_DIR, "pyproject.toml"))
    assert Path(project_file).exists()  # outside the sandbox
    for path in (project_file, str(Path(django_settings.DATA_DIR)), "/etc/passwd", "/etc/shadow"):
        with pytest.raises(CustomToolError, match="No such file or directory"):
            run(source, path=path)
    # The system and Python are there: a tool can import the standard library and the server's packages.
    assert run("def version() -> str:\n    import sys, json, numpy\n    return sys.version\n").startswith("3.")


def test_under_bubblewrap_the_network_is_off_unless_allowed(settings):
    settings.ENGRAM_TOOL_SANDBOX = "bwrap"
    server = socket.create_server(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    source = (
        "def knock(port: int) -> str:\n"
        "    import socket\n"
        "    socket.create_connection(('127.0.0.1', port), timeout=5).close()\n"
        "    return 'connected'\n"
    )
    try:
        with pytest.raises(CustomToolError, match="Connection refused|unreachable"):
            run(source, port=port)
        settings.ENGRAM_TOOL_NETWORK = True
        assert run(source, port=port) == "connected"
    finally:
        server.close()


@pytest.mark.parametrize("mode", MODES)
def test_memory_and_output_are_limited(settings, mode):
    settings.ENGRAM_TOOL_SANDBOX = mode
    settings.ENGRAM_TOOL_MEMORY_MB = 256
    settings.ENGRAM_TOOL_OUTPUT_MB = 1
    with pytest.raises(CustomToolError, match="MemoryError"):
        run("def hog() -> int:\n    return len(bytearray(512 * 1024 * 1024))\n")
    with pytest.raises(CustomToolError, match="wrote more than 1 MB"):
        run("def chatty() -> str:\n    print('x' * (4 * 1024 * 1024))\n    return 'done'\n")
    # Within the limits a tool runs normally.
    assert run("def small() -> int:\n    return len(bytearray(16 * 1024 * 1024))\n") == str(16 * 1024 * 1024)


def test_under_bubblewrap_tmp_and_the_working_directory_are_size_capped(settings):
    settings.ENGRAM_TOOL_SANDBOX = "bwrap"
    settings.ENGRAM_TOOL_OUTPUT_MB = 4  # each file is within the file-size limit; together they are not
    settings.ENGRAM_TOOL_TMP_MB = 4
    source = (
        "def fill(where: str) -> str:\n"
        "    for i in range(4):\n"
        "        open(f'{where}/part{i}', 'wb').write(bytes(2 * 1024 * 1024))\n"
        "    return 'filled'\n"
    )
    for where in ("/tmp", "."):
        with pytest.raises(CustomToolError, match="filled its 4 MB of temporary space"):
            run(source, where=where)
    settings.ENGRAM_TOOL_TMP_MB = 16
    assert run(source, where="/tmp") == "filled"


def test_disabled_mode_and_auto_without_bubblewrap_refuse_custom_tools_saying_why(settings):
    settings.ENGRAM_TOOL_SANDBOX = "auto"
    assert sandbox_status().mode == "bwrap"
    for sandbox in ("auto", "bwrap"):
        settings.ENGRAM_TOOL_SANDBOX = sandbox
        settings.ENGRAM_BWRAP = "/nonexistent/bwrap"
        assert sandbox_status().mode == "disabled"
        with pytest.raises(CustomToolError) as refused:
            run("def ok() -> str:\n    return 'ran'\n")
        message = str(refused.value)
        assert message.startswith("custom tools are disabled: bubblewrap (/nonexistent/bwrap) is not installed")
        assert "apt-get install bubblewrap" in message
        assert "ENGRAM_TOOL_SANDBOX=process on a trusted single-user machine" in message
    settings.ENGRAM_TOOL_SANDBOX = "disabled"
    settings.ENGRAM_BWRAP = "bwrap"
    with pytest.raises(CustomToolError, match="custom tools are disabled: ENGRAM_TOOL_SANDBOX=disabled"):
        run("def ok() -> str:\n    return 'ran'\n")
