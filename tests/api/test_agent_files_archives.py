"""Agent files carry the shared archives an agent attaches (`engram.archives`, `engram.archive_ids`): an export
imports as new archives of the importer's organization, attached to the new agents, passages in order."""

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from api.agent_files import agent_export, agent_import
from memory.models import Archive, Passage
from memory.search import passage_search
from memory.services.archives import archive_attach, archive_create
from memory.services.passages import PassageInput, passage_insert_many
from tests.factories import make_agent

pytestmark = pytest.mark.django_db
SHARED = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def test_an_attached_archive_travels_with_the_agent(alice: Any, charlie: Any) -> None:
    agent = make_agent(alice, name="traveller")
    archive = archive_create(actor=alice, name="field-notes", description="shared notes")
    passage_insert_many(
        archive=archive, items=[PassageInput(text=f"note {i} about herons", created_at=SHARED) for i in range(12)]
    )
    archive_attach(archive=archive, agent=agent)
    document = agent_export(agent=agent)
    [entry] = document["engram"]["archives"]
    assert entry["name"] == "field-notes" and entry["description"] == "shared notes"
    assert [p["text"] for p in entry["passages"]] == [f"note {i} about herons" for i in range(12)]
    assert document["agents"][0]["engram"]["archive_ids"] == [entry["id"]]

    [copy] = agent_import(actor=charlie, data=document)
    new = Archive.objects.get(attachments__agent=copy)
    assert new.pk != archive.pk and new.organization_id == copy.organization_id and new.name == "field-notes"
    texts = list(Passage.objects.filter(archive=new).order_by("created_at", "id").values_list("text", flat=True))
    assert texts == [f"note {i} about herons" for i in range(12)]
    assert [h.passage.archive_id for h in passage_search(agent=copy, query="herons", mode="text")][:1] == [new.pk]
    assert Passage.objects.filter(archive=archive).count() == 12  # the original is untouched


def test_an_unknown_archive_reference_names_its_path_and_writes_nothing(alice: Any) -> None:
    agent = make_agent(alice, name="lonely")
    document = agent_export(agent=agent)
    document["agents"][0]["engram"]["archive_ids"] = ["archive-9"]
    document["engram"] = {"archives": [{"id": "archive-0", "name": "kept?", "passages": [{"text": "x"}]}]}
    before = Archive.objects.count()
    with pytest.raises(ValidationError) as caught:
        agent_import(actor=alice, data=document)
    assert "agents[0].engram.archive_ids[0]" in str(caught.value)
    document["engram"] = {"archives": [{"id": "archive-0", "name": "", "passages": []}]}
    with pytest.raises(ValidationError) as caught:
        agent_import(actor=alice, data=document)
    assert "engram.archives[0].name" in str(caught.value)
    assert Archive.objects.count() == before
