"""Rows with equal created_at keep the order they were written in (issue #20): listing, browsing, the neighbour
signal of hybrid search, and messages waiting in a queued run."""

from typing import Any

from agents.models import Message
from agents.selectors import message_list
from agents.services.messages import MessageSpec, message_create_many
from memory.models import Passage
from memory.search import neighbours, scope_for
from memory.selectors_passages import passage_filter, passage_list
from memory.services.passages import PassageInput, passage_insert
from tests.memory.conftest import BASE

COUNT = 40


def test_a_batch_with_one_shared_time_lists_and_neighbours_in_insertion_order(
    alice: Any, agent_a: Any, insert: Any
) -> None:
    written = insert(agent_a, [PassageInput(text=f"turn {i}", created_at=BASE) for i in range(COUNT)])
    texts = [f"turn {i}" for i in range(COUNT)]
    assert [p.text for p in written] == texts
    assert [p.text for p in passage_list(actor=alice, agent_id=agent_a.id, limit=COUNT)] == texts
    assert [p.text for p in passage_list(actor=alice, agent_id=agent_a.id, order="desc")] == texts[::-1]
    assert [p.text for p in passage_filter(actor=alice, agent_ids=[agent_a.id], archive_ids=None)] == texts[::-1]
    # Cursor pages follow the same order.
    first = passage_list(actor=alice, agent_id=agent_a.id, limit=7)
    assert [p.text for p in passage_list(actor=alice, agent_id=agent_a.id, after=first[-1].id, limit=7)] == texts[7:14]

    scope = scope_for(Passage._meta.db_table, organization_id=agent_a.organization_id, agent_id=agent_a.id)
    ids = [p.id for p in written]
    around = neighbours(scope, [_db(ids[10])])
    (row,) = around.values()
    assert [_uuid(row.prev2), _uuid(row.prev), _uuid(row.next), _uuid(row.next2)] == [ids[8], ids[9], ids[11], ids[12]]


def test_passages_written_one_by_one_at_one_time_keep_their_order(alice: Any, agent_a: Any) -> None:
    for i in range(COUNT):
        passage_insert(agent=agent_a, text=f"single {i}", created_at=BASE)
    assert [p.text for p in passage_list(actor=alice, agent_id=agent_a.id)] == [f"single {i}" for i in range(COUNT)]


def test_messages_with_one_shared_time_keep_their_order(alice: Any, agent_a: Any) -> None:
    specs = [MessageSpec(role="user", text=f"line {i}", created_at=BASE) for i in range(COUNT)]
    written = message_create_many(agent=agent_a, specs=specs, numbered=False, publish=False)
    # Waiting in a queued run (no seq yet), they list by (created_at, id).
    pending = message_list(actor=alice, agent_id=agent_a.id, include_pending=True, limit=COUNT)
    assert [m.text for m in pending] == [f"line {i}" for i in range(COUNT)]
    scope = scope_for(Message._meta.db_table, organization_id=agent_a.organization_id, agent_id=agent_a.id)
    around = neighbours(scope, [_db(written[20].id)])
    (row,) = around.values()
    assert [_uuid(row.prev), _uuid(row.next)] == [written[19].id, written[21].id]


def test_messages_written_together_without_a_time_keep_their_order(alice: Any, agent_a: Any) -> None:
    """A step writes its assistant message (a predetermined id) and tool results in one call, stamped now."""
    import uuid

    specs = [MessageSpec(role="assistant", text="a", id=uuid.uuid5(uuid.NAMESPACE_DNS, "x"))]
    specs += [MessageSpec(role="tool", text=f"t{i}") for i in range(10)]
    message_create_many(agent=agent_a, specs=specs, numbered=False, publish=False)
    pending = message_list(actor=alice, agent_id=agent_a.id, include_pending=True)
    assert [m.text for m in pending] == ["a"] + [f"t{i}" for i in range(10)]


def _db(value: Any) -> Any:
    from memory.search import db_uuid

    return db_uuid(value)


def _uuid(value: Any) -> Any:
    import uuid

    return None if value is None else uuid.UUID(str(value))
