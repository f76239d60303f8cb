import pytest
from django.core.exceptions import ValidationError

from agents.models import Message, Run, RunStatus
from agents.runtime.lifecycle import run_claim, run_finish
from agents.runtime.waiting import run_wait
from agents.selectors import message_list, run_get
from agents.services.agents import agent_create
from agents.services.messages import MessageSpec, message_create_many, messages_reset
from agents.services.runs import run_cancel, run_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(alice):
    return agent_create(actor=alice, name="a", model="openai/gpt-4o-mini")


def test_run_create_persists_the_input_and_a_queued_run_and_dispatches_after_commit(
    alice, agent, django_capture_on_commit_callbacks, settings
):
    settings.ENGRAM_RUN_EXECUTOR = "manual"
    with django_capture_on_commit_callbacks() as callbacks:
        run = run_create(
            actor=alice, agent=agent, messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
        )
    assert run.status == RunStatus.QUEUED and run.options["max_steps"] == 50
    message = Message.objects.get(run=run)
    assert (message.role, message.text, message.seq, message.in_context) == ("user", "hi", None, False)
    assert callbacks  # dispatch + event, after commit


def test_a_repeated_otid_returns_the_existing_run(alice, agent):
    first = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "hi", "otid": "o-1"}])
    again = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "hi", "otid": "o-1"}])
    assert again.pk == first.pk
    assert Message.objects.filter(agent=agent).count() == 1


@pytest.mark.parametrize(
    ("messages", "max_steps"),
    [([], 50), ([{"role": "tool", "content": "x"}], 50), ([{"content": 3}], 50), ([{"content": "x"}], 0)],
)
def test_run_create_validates(alice, agent, messages, max_steps):
    with pytest.raises(ValidationError):
        run_create(actor=alice, agent=agent, messages=messages, max_steps=max_steps)
    assert not Run.objects.exists()


def test_claims_go_in_arrival_order_one_at_a_time(alice, agent):
    first = run_create(actor=alice, agent=agent, messages=[{"content": "one"}])
    second = run_create(actor=alice, agent=agent, messages=[{"content": "two"}])
    assert run_claim(run_id=second.id, token="t2") is None  # not first in line
    claimed = run_claim(run_id=first.id, token="t1")
    assert claimed is not None and claimed.status == RunStatus.RUNNING
    assert run_claim(run_id=first.id, token="other") is None  # someone else's running run
    assert run_claim(run_id=first.id, token="t1") is not None  # a redelivery of the same task resumes
    assert list(Message.objects.filter(agent=agent).exclude(seq=None).values_list("text", flat=True)) == ["one"]
    assert run_finish(run=claimed, status=RunStatus.COMPLETED, stop_reason="end_turn")
    assert run_claim(run_id=second.id, token="t2") is not None
    assert list(Message.objects.filter(agent=agent).order_by("seq").values_list("text", flat=True)) == ["one", "two"]


def test_the_database_refuses_a_second_running_run(alice, agent):
    from django.db import IntegrityError, transaction

    first = run_create(actor=alice, agent=agent, messages=[{"content": "one"}])
    second = run_create(actor=alice, agent=agent, messages=[{"content": "two"}])
    run_claim(run_id=first.id, token="t1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.filter(pk=second.pk).update(status=RunStatus.RUNNING)


def test_cancel_and_wait(alice, agent):
    run = run_create(actor=alice, agent=agent, messages=[{"content": "one"}])
    assert run_wait(run_id=run.id, timeout=0.02).status == RunStatus.QUEUED
    run_cancel(run=run)
    waited = run_wait(run_id=run.id, timeout=1)
    assert (waited.status, waited.stop_reason) == (RunStatus.CANCELLED, "cancelled")
    assert run_get(actor=alice, run_id=run.id) == run


def test_message_list_pages_with_cursors(alice, agent, charlie):
    rows = message_create_many(agent=agent, specs=[MessageSpec(role="user", text=str(i)) for i in range(7)])
    page = message_list(actor=alice, agent_id=agent.id, limit=3)
    assert [m.text for m in page] == ["6", "5", "4"]
    page = message_list(actor=alice, agent_id=agent.id, limit=3, after=page[-1].id)
    assert [m.text for m in page] == ["3", "2", "1"]
    page = message_list(actor=alice, agent_id=agent.id, limit=3, order="asc", after=rows[1].id)
    assert [m.text for m in page] == ["2", "3", "4"]
    page = message_list(actor=alice, agent_id=agent.id, order="asc", before=rows[2].id)
    assert [m.text for m in page] == ["0", "1"]
    with pytest.raises(Exception):  # noqa: B017 (Agent.DoesNotExist)
        message_list(actor=charlie, agent_id=agent.id)


def test_messages_reset_keeps_recall(alice, agent):
    message_create_many(agent=agent, specs=[MessageSpec(role="user", text="x")])
    assert messages_reset(agent=agent) == 1
    assert Message.objects.filter(agent=agent, in_context=False).count() == 1


def test_cancelling_a_finished_run_is_a_no_op(alice, agent, django_capture_on_commit_callbacks, settings):
    """Regression: run_cancel of a run that had already ended ran the run-end hooks again (waking waiters,
    dispatching the agent's next run, embedding the run's messages)."""
    settings.ENGRAM_RUN_EXECUTOR = "manual"
    settings.ENGRAM_EMBED_MESSAGES = True
    run = run_create(actor=alice, agent=agent, messages=[{"content": "one"}])
    claimed = run_claim(run_id=run.id, token="t1")
    assert run_finish(run=claimed, status=RunStatus.COMPLETED, stop_reason="end_turn")
    finished = Run.objects.get(pk=run.pk)
    queued = run_create(actor=alice, agent=agent, messages=[{"content": "two"}])
    with django_capture_on_commit_callbacks() as callbacks:
        again = run_cancel(run=finished)
    assert callbacks == []
    assert (again.status, again.stop_reason, again.completed_at) == (
        RunStatus.COMPLETED,
        "end_turn",
        finished.completed_at,
    )
    assert Run.objects.get(pk=queued.pk).status == RunStatus.QUEUED
    # Cancelling an active run still runs them once.
    with django_capture_on_commit_callbacks() as callbacks:
        assert run_cancel(run=queued).status == RunStatus.CANCELLED
    assert callbacks


def test_run_delete_cancels_first_and_keeps_the_messages(alice, agent):
    from agents.models import Step
    from agents.services.runs import run_delete

    run = run_create(actor=alice, agent=agent, messages=[{"content": "one"}])
    claimed = run_claim(run_id=run.id, token="t1")
    # A worker in the middle of the run has persisted step 0. Written by hand: the loop cannot be stopped between
    # steps inside one test transaction; test_execution's killed-worker test reaches this state for real.
    Step.objects.create(organization_id=agent.organization_id, run=claimed, agent=agent, index=0, model="m")
    deleted = run_delete(run=claimed)
    assert deleted.status == RunStatus.CANCELLED
    assert not Run.objects.filter(pk=run.pk).exists() and not Step.objects.exists()
    assert list(Message.objects.filter(agent=agent).values_list("text", "run_id")) == [("one", None)]
    # The worker that held the run abandons its step: the run is gone.
    assert run_claim(run_id=run.id, token="t1") is None


@pytest.mark.django_db(transaction=True)
def test_the_messages_of_a_deleted_run_are_still_embedded(alice, agent, settings):
    import time

    from agents.services.runs import run_delete

    settings.ENGRAM_EMBED_MESSAGES = True
    settings.ENGRAM_RUN_EXECUTOR = "manual"  # committed here, the run would otherwise start in-process at once
    run = run_create(actor=alice, agent=agent, messages=[{"content": "my cat is called Tom"}])
    run_delete(run=run_claim(run_id=run.id, token="t1"))
    message = Message.objects.get(agent=agent)
    deadline = time.monotonic() + 20
    while not message.embedding_hash and time.monotonic() < deadline:
        time.sleep(0.05)
        message.refresh_from_db()
    assert message.run_id is None and message.embedding_hash  # findable by meaning, not only by words


def test_step_feedback_validates_and_merges_tags(agent, fake_llm, send):
    from agents.models import Step
    from agents.services.runs import step_feedback_update

    fake_llm.reply("two")
    step = Step.objects.get(run=send(agent, "one"))
    step = step_feedback_update(step=step, feedback="negative", tags=["slow", "wrong"])
    step = step_feedback_update(step=step, tags=["wrong", "rude"])
    assert (step.feedback, step.feedback_tags) == ("negative", ["slow", "wrong", "rude"])
    for kwargs in ({"feedback": "meh"}, {"tags": [" "]}, {"tags": "x"}):
        with pytest.raises(ValidationError):
            step_feedback_update(step=step, **kwargs)
    step.refresh_from_db()
    assert (step.feedback, step.feedback_tags) == ("negative", ["slow", "wrong", "rude"])
    assert step_feedback_update(step=step, clear_feedback=True).feedback == ""
