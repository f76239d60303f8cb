"""Agent files (`.af`, Letta's multi-entity "v2" format): export an agent with its blocks, tools, messages and
archival passages as one JSON document, and import such a document as new agents of the importer's organization.

File layout (what `agent_export` writes and `agent_import` reads):
- top level: `agents`, `blocks`, `tools`, `mcp_servers` (the servers of the agents' MCP tools, without
  credentials: `mcp`), plus `groups`, `files`, `sources`, `skills` (always empty on export and ignored on import),
  `metadata`, `created_at`;
- ids inside the file are file-local (`agent-0`, `block-0`, `tool-0`, `message-0`) and only link the entities of
  the file: `agents[].block_ids`, `agents[].tool_ids`, `agents[].in_context_message_ids`;
- every Engram-only field lives under an `engram` key of the object it belongs to (agent: exact model settings,
  compaction settings, running summary, `archival_passages`, `archive_ids`; message: stored text, reasoning,
  is_err; the document: `archives`, the shared archives its agents attach, with their passages, which import as
  new archives of the importer's organization: Letta's format has no such entity). Other
  importers ignore it; Engram's importer uses it when present and derives the same values from the standard fields
  otherwise (files written by Letta).

Import is all or nothing (one transaction); bad input is a ValidationError keyed by the path of the offending
field (`agents[0].messages[3].role`), so the API answers 422 naming it.

Modules: `export` (write), `parse` (read and check), `load` (create the rows), `mcp` (MCP servers both ways),
`common` (format constants). An
agent file is the /v1 agent shape on disk, so it lives with the API; the ADE's export and import buttons use it too.
"""

from api.agent_files.export import agent_export, agent_file_name
from api.agent_files.load import agent_import
from api.agent_files.parse import ImportOptions, agent_file_parse, agent_file_read

__all__ = ["ImportOptions", "agent_export", "agent_file_name", "agent_file_parse", "agent_file_read", "agent_import"]
