"""Token deltas on a run's stream add up to the stored reply even when the channel layer loses or delays some:
channels-redis drops events for a full channel (the flaky production streams), and a delta may arrive after
the poll already sent the stored message."""

import uuid

from agents.models import Run
from agents.services.messages import assistant_message_id
from api import wire
from api.views.streaming import _Tokens
from lib.ids import public_id

TEXT = "The quick brown fox jumps over the lazy dog."


def deltas(text, size=5):
    return [(offset, text[offset : offset + size]) for offset in range(0, len(text), size)]


def token(run, offset, delta, kind="content"):
    return {
        "type": "agent.token",
        "run_id": public_id("run", run.id),
        "step_index": 0,
        "kind": kind,
        "delta": delta,
        "offset": offset,
    }


def stored_piece(run):
    message_id = assistant_message_id(run_id=run.id, step_index=0)
    return {"id": public_id("message", message_id), "message_type": "assistant_message", "content": TEXT}


def received(tokens, run, events, stored_after):
    """What a client concatenates: the deltas sent, with the stored message's remainder after `stored_after`."""
    out = []
    for i, event in enumerate(events):
        if i == stored_after:
            rest = tokens.remainder(stored_piece(run))
            out.append(rest["content"] if rest else "")
        frame = tokens.frame_for(event, run)
        if frame is not None:
            out.append(frame["content"])
    if stored_after >= len(events):
        rest = tokens.remainder(stored_piece(run))
        out.append(rest["content"] if rest else "")
    return "".join(out)


def test_a_delta_dropped_midway_is_made_up_by_the_stored_message():
    run = Run(id=uuid.uuid4())
    events = [token(run, offset, delta) for offset, delta in deltas(TEXT)]
    del events[3]  # the layer dropped it (channel full); the later ones still arrive
    tokens = _Tokens(memgpt=False, options=wire.DEFAULT_OPTIONS)
    assert received(tokens, run, events, stored_after=len(events)) == TEXT


def test_deltas_arriving_after_the_stored_message_are_not_sent_again():
    run = Run(id=uuid.uuid4())
    events = [token(run, offset, delta) for offset, delta in deltas(TEXT)]
    tokens = _Tokens(memgpt=False, options=wire.DEFAULT_OPTIONS)
    assert received(tokens, run, events, stored_after=4) == TEXT  # the poll saw the row before the last deltas


def test_all_deltas_in_order_are_the_reply_and_nothing_more():
    run = Run(id=uuid.uuid4())
    events = [token(run, offset, delta) for offset, delta in deltas(TEXT)]
    tokens = _Tokens(memgpt=False, options=wire.DEFAULT_OPTIONS)
    assert received(tokens, run, events, stored_after=len(events)) == TEXT
    assert tokens.remainder(stored_piece(run)) is None
