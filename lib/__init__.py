"""Plain helpers any app may import: public ids, storable text, secrets at rest, provider addresses,
WebSocket origins. Nothing here imports a model."""
