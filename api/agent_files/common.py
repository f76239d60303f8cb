"""The agent-file format's version, limits and tool types, shared by export, parse and load."""

from typing import Any

JSON = dict[str, Any]


ENGRAM_FORMAT = 1


MAX_AGENTS = 50


MAX_BLOCKS = 1_000


MAX_TOOLS = 1_000


MAX_MESSAGES = 200_000


MAX_PASSAGES = 200_000


MAX_NAME_CHARS = 200


MAX_RETURN = 1_000_000  # as the tools API


MAX_ID_CHARS = 200


COPY_SUFFIX = "_copy"


# Letta's tool types whose tools are the server's own (resolved by name); custom tools carry their source.
BUILTIN_TOOL_TYPES = {
    "letta_core",
    "letta_memory_core",
    "letta_sleeptime_core",
    "letta_voice_sleeptime_core",
    "letta_multi_agent_core",
    "letta_builtin",
    "letta_files_core",
}


CUSTOM_TOOL_TYPE = "custom"
