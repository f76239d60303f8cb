"""The Archival panel's shared archives: those the agent attaches, the organization's others (to attach), and the
one being browsed or searched (`?archive=<id>`). The panel itself is rendered by ade.views.workspace; the writes
(create, attach, detach) are in ade.views.memory."""

import uuid
from typing import Any

from django.db.models import Count

from accounts.http import AuthedHttpRequest
from ade.views.common import or_404
from agents.models import Agent
from memory.selectors_archives import archive_get, archive_list


def archive_panel_context(request: AuthedHttpRequest, agent: Agent, archive_id: uuid.UUID | None) -> dict[str, Any]:
    """`archives` (attached, with passage counts `n`), `other_archives`, `archive` (browsed, or None) and
    `archive_names` (id → name of every archive shown). Another organization's archive is a 404."""
    attached = list(archive_list(actor=request.user, agent_id=agent.pk).annotate(n=Count("passages")))
    others = list(archive_list(actor=request.user).exclude(pk__in=[a.pk for a in attached]))
    current = None
    if archive_id is not None:
        current = next((a for a in attached + others if a.pk == archive_id), None)
        if current is None:
            with or_404():
                current = archive_get(actor=request.user, archive_id=archive_id)
    return {
        "archives": attached,
        "other_archives": others,
        "archive": current,
        "archive_names": {a.pk: a.name for a in attached + others},
    }
