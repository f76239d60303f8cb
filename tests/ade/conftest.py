from typing import Any

import pytest

from accounts.models import Organization
from agents.models import Agent


@pytest.fixture
def agent(org_a: Organization, alice: Any) -> Agent:
    # Test data only: the ADE itself creates agents through agents.services.
    return Agent.objects.create(organization=org_a, name="Ada", model="openai/gpt-4o-mini", created_by=alice)
