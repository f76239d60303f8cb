"""The ADE's conversation switcher: new, rename, delete, and each conversation with its own chat."""

from typing import Any

import pytest
from django.test import Client

from agents.models import Conversation, Message
from agents.services.conversations import conversation_create
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_llm")]


@pytest.fixture
def agent(alice: Any) -> Any:
    return factories.make_agent(alice, name="switcher")


def test_new_switch_rename_and_delete_each_with_its_own_chat(alice_client: Client, alice: Any, agent: Any) -> None:
    base = f"/agents/{agent.id}/"
    fake = alice_client.post(f"{base}conversations/new/", {"summary": "Trip"})
    assert fake.status_code == 302
    trip = Conversation.objects.get(agent=agent)
    assert trip.summary == "Trip"
    # The new conversation is the one the chat shows; a message sent there goes to it.
    alice_client.post(f"{base}messages/", {"text": "to the trip"}, HTTP_HX_REQUEST="true")
    assert Message.objects.get(text="to the trip").conversation_id == trip.pk
    page = alice_client.get(base).content.decode()
    assert "to the trip" in page and "selected>Trip</option>" in page
    # Back to the agent's own history: its chat does not show the trip's message.
    alice_client.post(f"{base}conversations/switch/", {"conversation": ""})
    alice_client.post(f"{base}messages/", {"text": "to the default"}, HTTP_HX_REQUEST="true")
    assert Message.objects.get(text="to the default").conversation_id is None
    page = alice_client.get(base).content.decode()
    assert "to the default" in page and "to the trip" not in page
    tail = alice_client.get(f"{base}messages/?since=0", HTTP_HX_REQUEST="true").content.decode()
    assert "to the default" in tail and "to the trip" not in tail
    # Rename, then delete (with its messages).
    alice_client.post(f"{base}conversations/switch/", {"conversation": str(trip.pk)})
    alice_client.post(f"{base}conversations/{trip.pk}/rename/", {"summary": "Lisbon"})
    trip.refresh_from_db()
    assert trip.summary == "Lisbon"
    response = alice_client.post(f"{base}conversations/{trip.pk}/delete/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"] == base
    assert not Conversation.objects.filter(pk=trip.pk).exists()
    assert not Message.objects.filter(text="to the trip").exists()
    assert "to the default" in alice_client.get(base).content.decode()


def test_another_organization_gets_404(charlie: Any, alice: Any, agent: Any) -> None:
    trip = conversation_create(actor=alice, agent=agent, summary="Trip")
    other = factories.make_agent(charlie, name="theirs")
    c = Client()
    c.force_login(charlie)
    assert c.post(f"/agents/{agent.id}/conversations/new/", {"summary": "x"}).status_code == 404
    assert c.post(f"/agents/{agent.id}/conversations/{trip.pk}/rename/", {"summary": "x"}).status_code == 404
    assert c.post(f"/agents/{agent.id}/conversations/{trip.pk}/delete/").status_code == 404
    # Through their own agent's URLs, alice's conversation is still not theirs.
    assert c.post(f"/agents/{other.id}/conversations/switch/", {"conversation": str(trip.pk)}).status_code == 404
    assert c.post(f"/agents/{other.id}/conversations/{trip.pk}/delete/").status_code == 404
    trip.refresh_from_db()
    assert trip.summary == "Trip"
