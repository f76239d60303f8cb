"""Shared archives in the Archival panel: create and attach, attach another, browse and search one (its
passages marked as the archive's in the agent's search), insert into it, detach; another organization's archive
is a 404."""

import re
from typing import Any

import pytest
from django.test import Client

from agents.models import Agent
from memory.models import Archive, ArchiveAttachment, Passage
from memory.services.archives import archive_create
from memory.services.passages import passage_insert

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def shown(page: str) -> list[str]:
    return re.findall(r'<li class="passage card"[^>]*>\s*<p>([^<]*)</p>', page)


def test_a_person_manages_shared_archives_from_the_archival_panel(
    alice_client: Client, alice: Any, agent: Agent
) -> None:
    base = f"/agents/{agent.id}/archival/"
    page = alice_client.get(base, **HX).content.decode()
    assert "Shared archives" in page and "No shared archive attached" in page

    page = alice_client.post(f"/agents/{agent.id}/archives/new/", {"name": "recipes"}, **HX).content.decode()
    assert "Archive recipes created and attached." in page
    recipes = Archive.objects.get(name="recipes")
    assert ArchiveAttachment.objects.filter(archive=recipes, agent=agent).exists()
    other = archive_create(actor=alice, name="travel")
    passage_insert(archive=other, text="The ferry to the island leaves at nine.")
    page = alice_client.get(base, **HX).content.decode()
    assert f'<option value="{other.id}">travel</option>' in page  # offered for attaching
    page = alice_client.post(f"/agents/{agent.id}/archives/attach/", {"archive": str(other.id)}, **HX).content.decode()
    assert "Archive travel attached." in page

    # Insert into the browsed archive, then browse and search it.
    page = alice_client.post(
        f"/agents/{agent.id}/passages/", {"text": "Soup needs salt.", "archive": str(recipes.id)}, **HX
    ).content.decode()
    assert "Passage inserted." in page and "Browsing the shared archive <strong>recipes</strong>" in page
    assert Passage.objects.get(text="Soup needs salt.").archive_id == recipes.pk
    assert shown(alice_client.get(f"{base}?archive={recipes.id}", **HX).content.decode()) == ["Soup needs salt."]
    found = alice_client.get(f"{base}?archive={other.id}&q=ferry&mode=text", **HX).content.decode()
    assert shown(found) == ["The ferry to the island leaves at nine."]
    # The agent's own search covers both archives, each hit marked with its archive.
    passage_insert(agent=agent, text="My own ferry ticket is in the drawer.")
    mine = alice_client.get(f"{base}?q=ferry&mode=text", **HX).content.decode()
    assert set(shown(mine)) == {"The ferry to the island leaves at nine.", "My own ferry ticket is in the drawer."}
    assert 'title="from a shared archive">travel</span>' in mine
    # Browsing without a query shows the agent's own passages only.
    assert shown(alice_client.get(base, **HX).content.decode()) == ["My own ferry ticket is in the drawer."]

    page = alice_client.post(f"/agents/{agent.id}/archives/{other.id}/detach/", **HX).content.decode()
    assert "Archive travel detached." in page
    assert shown(alice_client.get(f"{base}?q=ferry&mode=text", **HX).content.decode()) == [
        "My own ferry ticket is in the drawer."
    ]
    # Bad input names the field.
    response = alice_client.post(f"/agents/{agent.id}/archives/new/", {"name": ""}, **HX)
    assert response.status_code == 422 and "name:" in response.content.decode()


def test_another_organizations_archive_is_a_404(alice_client: Client, charlie: Any, agent: Agent) -> None:
    theirs = archive_create(actor=charlie, name="charlie-private")
    passage_insert(archive=theirs, text="charlie's secret")
    base = f"/agents/{agent.id}/archival/"
    assert alice_client.get(f"{base}?archive={theirs.id}", **HX).status_code == 404
    assert alice_client.get(f"{base}?archive={theirs.id}&q=secret", **HX).status_code == 404
    response = alice_client.post(f"/agents/{agent.id}/archives/attach/", {"archive": str(theirs.id)}, **HX)
    assert response.status_code == 404
    assert alice_client.post(f"/agents/{agent.id}/archives/{theirs.id}/detach/", **HX).status_code == 404
    response = alice_client.post(f"/agents/{agent.id}/passages/", {"text": "x", "archive": str(theirs.id)}, **HX)
    assert response.status_code == 404
    page = alice_client.get(base, **HX).content.decode()
    assert "charlie-private" not in page
    assert Passage.objects.filter(archive=theirs).count() == 1 and not ArchiveAttachment.objects.exists()
