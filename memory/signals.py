"""Signals memory sends so that agents can react without memory importing agents (the dependency points
agents → memory). Receivers only relay (publish events); they hold no business logic."""

from django.dispatch import Signal

# Sent after the transaction that changed a block commits. kwargs: block_id (UUID), revision_id (UUID | None).
block_changed = Signal()
