"""Tools an agent can call: the built-in memory tools (builtin.py), custom Python tools (custom.py, isolated by
sandbox.py) and schema derivation from a Python function (schema.py)."""
