"""The Letta-compatible /v1 surface: views, wire shapes, OpenAPI schemas, errors, pagination, routes, uploads."""
