import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from memory.selectors_passages import passage_get, passage_list
from memory.services.passages import PassageInput
from tests.memory.conftest import BASE


@pytest.fixture
def ten(agent_a: Any, insert: Any) -> list[Any]:
    return insert(
        agent_a, [PassageInput(text=f"p{i}", created_at=BASE + dt.timedelta(minutes=i % 5)) for i in range(10)]
    )


def test_it_pages_with_cursors_both_ways(alice: Any, agent_a: Any, ten: list[Any]) -> None:
    everything = passage_list(actor=alice, agent_id=agent_a.id, limit=100)
    assert len(everything) == 10
    assert [(p.created_at, p.id) for p in everything] == sorted((p.created_at, p.id) for p in everything)
    page1 = passage_list(actor=alice, agent_id=agent_a.id, limit=4)
    page2 = passage_list(actor=alice, agent_id=agent_a.id, limit=4, after=page1[-1].id)
    page3 = passage_list(actor=alice, agent_id=agent_a.id, limit=4, after=page2[-1].id)
    assert page1 + page2 + page3 == everything
    newest = passage_list(actor=alice, agent_id=agent_a.id, limit=3, order="desc")
    assert newest == everything[::-1][:3]
    # after/before follow the listing order: in desc order, "after" is older.
    older = passage_list(actor=alice, agent_id=agent_a.id, limit=3, order="desc", after=newest[-1].id)
    assert older == everything[::-1][3:6]
    assert passage_list(actor=alice, agent_id=agent_a.id, order="desc", before=older[0].id) == newest
    window = passage_list(actor=alice, agent_id=agent_a.id, after=everything[1].id, before=everything[5].id)
    assert window == everything[2:5]


def test_bob_reads_and_charlie_gets_nothing(alice: Any, bob: Any, charlie: Any, agent_a: Any, ten: list[Any]) -> None:
    assert len(passage_list(actor=bob, agent_id=agent_a.id)) == 10
    assert passage_list(actor=charlie, agent_id=agent_a.id) == []
    assert passage_get(actor=bob, passage_id=ten[0].id) == ten[0]
    with pytest.raises(type(ten[0]).DoesNotExist):
        passage_get(actor=charlie, passage_id=ten[0].id)


def test_a_cursor_of_another_agent_is_rejected(alice: Any, agent_a: Any, ten: list[Any], org_b: Any) -> None:
    import uuid

    with pytest.raises(ValidationError):
        passage_list(actor=alice, agent_id=agent_a.id, after=uuid.uuid4())
    with pytest.raises(ValidationError):
        passage_list(actor=alice, agent_id=agent_a.id, order="sideways")  # type: ignore[arg-type]
