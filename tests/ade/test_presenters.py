import datetime as dt
import json

import pytest

from ade.presenters import Series, chat_item, chat_items, failure_note, inline_diff, stacked_bars, step_tool_calls
from agents.models import Message


def message(**fields: object) -> Message:
    defaults: dict[str, object] = {"seq": 1, "role": "assistant", "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}
    return Message(**{**defaults, **fields})


def call(name: str, arguments: dict[str, object]) -> dict[str, object]:
    return {"id": "c1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def test_it_shows_a_memgpt_send_message_as_the_reply_and_other_calls_as_tool_calls() -> None:
    item = chat_item(
        message(
            reasoning="The user likes tea.",
            tool_calls=[call("send_message", {"message": "Tea it is!"}), call("memory_insert", {"label": "human"})],
        )
    )
    assert item.text == "Tea it is!"
    assert item.reasoning == "The user likes tea."
    assert [c.name for c in item.tool_calls] == ["memory_insert"]
    assert '"label": "human"' in item.tool_calls[0].arguments


def test_a_memgpt_row_whose_text_is_the_reply_shows_it_once() -> None:
    # What the loop stores: text = what send_message said, beside the call that said it.
    item = chat_item(message(text="Tea it is!", tool_calls=[call("send_message", {"message": "Tea it is!"})]))
    assert item.text == "Tea it is!"
    assert item.tool_calls == []


def test_it_survives_malformed_tool_calls() -> None:
    item = chat_item(message(tool_calls=["junk", {"function": {"name": "x", "arguments": "{not json"}}]))
    assert [c.name for c in item.tool_calls] == ["?", "x"]
    assert item.tool_calls[1].arguments == "{not json"


def test_run_outcomes_go_on_the_last_message_of_the_run() -> None:
    run_id = "6f1c1f0e-0000-4000-8000-000000000000"
    items = chat_items(
        [message(seq=1, text="a", run_id=run_id), message(seq=2, text="b", run_id=run_id), message(seq=3, text="c")],
        {run_id: "Run cancelled"},
    )
    assert [i.run_outcome for i in items] == ["", "Run cancelled", ""]


def test_the_diff_is_word_level_and_escaped() -> None:
    html = inline_diff("Likes: tea", "Likes: <b>green</b> tea")
    assert "<ins>&lt;b&gt;green&lt;/b&gt; </ins>" in html
    assert "<script" not in inline_diff("", "<script>alert(1)</script>")
    assert "<del>coffee</del><ins>tea</ins>" in inline_diff("coffee", "tea")


def test_step_tool_calls_reads_an_openai_response() -> None:
    response = {"choices": [{"message": {"tool_calls": [call("archival_memory_search", {"query": "x"})]}}]}
    assert [c.name for c in step_tool_calls(response)] == ["archival_memory_search"]
    assert step_tool_calls({}) == []


def test_the_chart_escapes_names_and_scales_bars() -> None:
    svg = stacked_bars(
        ["2026-01-01", "2026-01-02"],
        [Series("<evil>", [1.0, 3.0], "#000"), Series("b", [1.0, 0.0], "#111")],
        title="t",
    )
    assert "&lt;evil&gt;" in svg and "<evil>" not in svg
    assert svg.count("<rect") == 3


@pytest.mark.parametrize(
    "error,hint",
    [
        ("the model provider returned 401 (authentication failed)", "API key"),
        ("the model provider returned 404 (model or endpoint not found)", "model handle in Settings"),
        ("the model provider returned 429 (rate limited)", "then Retry"),
        ("the model provider could not be reached", "OPENAI_API_BASE"),
        ("the request is larger than the model's context window", "Reset the context window"),
    ],
)
def test_a_failure_note_says_what_to_do(error: str, hint: str) -> None:
    note = failure_note(error)
    assert note.startswith(f"Run failed: {error}. ") and hint in note


def test_a_failure_note_without_a_known_cause_has_no_hint() -> None:
    assert failure_note("the model provider returned 500 (server error)") == (
        "Run failed: the model provider returned 500 (server error)"
    )
    assert failure_note("") == "Run failed: no reason recorded"


def test_a_tool_return_is_folded_into_its_call() -> None:
    items = chat_items(
        [
            message(seq=1, reasoning="Save it.", tool_calls=[call("memory_insert", {"label": "human", "new": "tea"})]),
            message(seq=2, role="tool", tool_call_id="c1", name="memory_insert", text="Inserted.", is_err=False),
            message(seq=3, text="Saved."),
        ]
    )
    assert [i.seq for i in items] == [1, 3]  # the return is no item of its own
    folded = items[0].tool_calls[0]
    assert (folded.returned, folded.result, folded.status) == (True, "Inserted.", "done")
    assert folded.summary == 'label: "human", new: "tea"'


def test_a_failed_return_marks_its_call_as_an_error_and_a_call_without_one_is_only_called() -> None:
    items = chat_items(
        [
            message(seq=1, tool_calls=[call("web_search", {"q": "x"})]),
            message(seq=2, role="tool", tool_call_id="c1", name="web_search", text="boom", is_err=True),
            message(seq=3, tool_calls=[{**call("memory_insert", {}), "id": "c2"}]),
        ]
    )
    assert [c.status for i in items for c in i.tool_calls] == ["error", "called"]


def test_a_return_whose_call_is_not_shown_stays_an_item_and_a_replys_return_goes() -> None:
    items = chat_items(
        [
            message(seq=1, role="tool", tool_call_id="other", name="memory_insert", text="Inserted."),
            message(seq=2, text="Hi!", tool_calls=[{**call("send_message", {"message": "Hi!"}), "id": "r1"}]),
            message(seq=3, role="tool", tool_call_id="r1", name="send_message", text="Sent."),
        ]
    )
    assert [(i.seq, i.role) for i in items] == [(1, "tool"), (2, "assistant")]


def test_long_arguments_are_cut_to_one_short_line() -> None:
    summary = chat_item(message(tool_calls=[call("note", {"text": "word\n" * 50})])).tool_calls[0].summary
    assert len(summary) == 80 and summary.endswith("…") and "\n" not in summary


def test_a_json_return_is_shown_indented() -> None:
    items = chat_items(
        [
            message(seq=1, tool_calls=[call("conversation_search", {"query": "tea"})]),
            message(seq=2, role="tool", tool_call_id="c1", name="conversation_search", text='{"count": 1}'),
        ]
    )
    assert items[0].tool_calls[0].result == '{\n  "count": 1\n}'
