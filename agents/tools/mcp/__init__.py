"""MCP servers as tool providers: the connection parameters of a stored server (`spec`), the per-process pool of
open sessions on one event-loop thread (`client`), and how a stdio server is started in the custom-tool sandbox
(`stdio`). Uses the official `mcp` SDK; nothing else imports it."""
