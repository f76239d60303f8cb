import uuid

from django.contrib.auth.models import User
from django.db.models import QuerySet

from accounts.selectors import organization_id_for
from agents.models import Agent


def agent_list(*, actor: User) -> QuerySet[Agent]:
    return Agent.objects.filter(organization_id=organization_id_for(actor))


def agent_get(*, actor: User, agent_id: uuid.UUID) -> Agent:
    """Raises Agent.DoesNotExist for ids of other organizations: outsiders get 404, never 403."""
    return agent_list(actor=actor).get(pk=agent_id)
