"""Services: the one entry point for writes (REST API, ADE, tasks, management commands). Import from the
submodules: agents.services.agents, .tools, .runs, .messages."""
