import pytest
from django.core.exceptions import ValidationError

from memory.models import DEFAULT_BLOCK_DESCRIPTIONS, DEFAULT_BLOCK_LIMIT, Block, BlockRevision
from memory.selectors import block_get, block_list, block_revision_list
from memory.services.blocks import block_create, block_delete, block_revert, block_update

pytestmark = pytest.mark.django_db


def test_it_creates_with_defaults(alice):
    block = block_create(actor=alice, label="persona", value="I am kind.")
    assert block.limit == DEFAULT_BLOCK_LIMIT
    assert block.description == DEFAULT_BLOCK_DESCRIPTIONS["persona"]
    assert block.created_by == alice


def test_it_refuses_a_value_over_the_limit_on_create(alice):
    with pytest.raises(ValidationError) as exc:
        block_create(actor=alice, label="human", value="x" * 2150, limit=2000)
    assert "Exceeds 2000 character limit (requested 2150)" in str(exc.value)


def test_update_records_a_revision_with_who_and_before_after(alice):
    block = block_create(actor=alice, label="human", value="Name: Ada", limit=100)
    block_update(block=block, actor=alice, source="ade", value="Name: Ada Lovelace")
    revision = BlockRevision.objects.get(block=block)
    assert (revision.before, revision.after, revision.actor_user, revision.source) == (
        "Name: Ada",
        "Name: Ada Lovelace",
        alice,
        "ade",
    )
    assert block.value == "Name: Ada Lovelace"


def test_update_over_the_limit_leaves_the_block_unchanged(alice):
    block = block_create(actor=alice, label="human", value="short", limit=10)
    with pytest.raises(ValidationError) as exc:
        block_update(block=block, actor=alice, value="x" * 11)
    assert "Exceeds 10 character limit (requested 11)" in str(exc.value)
    assert Block.objects.get(pk=block.pk).value == "short"
    assert not BlockRevision.objects.exists()


def test_lowering_the_limit_below_the_value_is_refused(alice):
    block = block_create(actor=alice, label="human", value="x" * 50)
    with pytest.raises(ValidationError, match="Exceeds 20 character limit"):
        block_update(block=block, actor=alice, limit=20)


def test_read_only_refuses_agent_writes_and_user_writes_unless_unlocked(alice, org_a):
    import uuid

    block = block_create(actor=alice, label="policy", value="v1", read_only=True)
    with pytest.raises(ValidationError, match="read-only"):
        block_update(block=block, agent_id=uuid.uuid4(), source="tool", value="v2")
    with pytest.raises(ValidationError, match="read-only"):
        block_update(block=block, actor=alice, value="v2")
    block_update(block=block, actor=alice, value="v2", read_only=False)
    assert Block.objects.get(pk=block.pk).value == "v2"


def test_agent_writes_record_agent_and_step(alice):
    import uuid

    agent_id, step_id = uuid.uuid4(), uuid.uuid4()
    block = block_create(actor=alice, label="human", value="")
    block_update(block=block, agent_id=agent_id, step_id=step_id, source="tool", value="likes tea")
    revision = BlockRevision.objects.get(block=block)
    assert (revision.actor_agent_id, revision.step_id, revision.actor_user) == (agent_id, step_id, None)


def test_revert_restores_the_previous_value_as_a_new_revision(alice):
    block = block_create(actor=alice, label="human", value="a")
    block_update(block=block, actor=alice, value="b")
    revision = block_revision_list(actor=alice, block_id=block.id).first()
    block_revert(revision=revision, actor=alice)
    assert Block.objects.get(pk=block.pk).value == "a"
    assert [r.source for r in block_revision_list(actor=alice, block_id=block.id)] == ["revert", "api"]


def test_selectors_are_scoped_to_the_organization(alice, bob, charlie):
    block = block_create(actor=alice, label="team", value="shared", tags=["x"])
    assert list(block_list(actor=bob)) == [block]
    assert list(block_list(actor=bob, tags=["x"])) == [block]
    assert list(block_list(actor=bob, tags=["y"])) == []
    assert list(block_list(actor=charlie)) == []
    with pytest.raises(Block.DoesNotExist):
        block_get(actor=charlie, block_id=block.id)
    with pytest.raises(Block.DoesNotExist):
        block_revision_list(actor=charlie, block_id=block.id)


def test_delete(alice):
    block = block_create(actor=alice, label="tmp")
    block_delete(block=block)
    assert not Block.objects.exists()


def test_block_list_filters_by_ids_inside_the_organization(alice, charlie):
    first = block_create(actor=alice, label="a", value="1")
    block_create(actor=alice, label="b", value="2")
    assert list(block_list(actor=alice, block_ids=[first.pk])) == [first]
    assert list(block_list(actor=charlie, block_ids=[first.pk])) == []


def test_memory_does_not_reach_into_agents_tables():
    """Memory knows blocks, not who links to them: agents resolve identities to block ids (agents.selectors
    .identity_block_ids) and pass them in. A lookup through `identity_links` or `agents__` would undo that."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "memory"
    offenders = []
    for path in root.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg and node.arg.split("__")[0] in ("identity_links", "agents"):
                offenders.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.arg}")
    assert offenders == []
