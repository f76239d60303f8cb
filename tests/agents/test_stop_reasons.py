"""Stop reasons have one home, agents.models.StopReason: which ends are failures, and how each goes on the wire."""

import typing

import pytest
from letta_client.types.stop_reason_type import StopReasonType

from agents.models import RunStatus, StopReason
from lib.ids import public_id
from tests.fakes.llm_server import Reply

pytestmark = pytest.mark.django_db


def test_it_offers_exactly_the_stop_reasons_letta_clients_know() -> None:
    assert sorted(StopReason.wire_values()) == sorted(typing.get_args(StopReasonType))
    assert {StopReason.to_wire(v) for v in StopReason.values} - {None} <= set(StopReason.wire_values())


@pytest.mark.parametrize(
    ("stored", "wire", "failed", "errored"),
    [
        ("end_turn", "end_turn", False, False),
        ("no_tool_call", "no_tool_call", False, False),
        ("tool_rule", "tool_rule", False, False),
        ("max_steps", "max_steps", False, False),
        ("cancelled", "cancelled", False, False),
        ("invalid_tool_call", "invalid_tool_call", True, False),
        ("llm_api_error", "llm_api_error", True, True),
        ("error", "error", True, True),
        ("context_window_overflow_in_system_prompt", "context_window_overflow_in_system_prompt", True, True),
        ("context_window_overflow", "error", True, True),
        ("required_before_exit", None, False, False),
        ("", None, False, False),
        ("something_an_old_version_wrote", "error", False, True),
    ],
)
def test_it_knows_failures_and_wire_forms(stored: str, wire: str | None, failed: bool, errored: bool) -> None:
    assert StopReason.to_wire(stored) == wire
    assert StopReason.failed(stored) is failed
    assert StopReason.errored(stored) is errored


def test_an_ended_run_always_reports_a_reason() -> None:
    assert StopReason.of_run(status=RunStatus.FAILED, value="") == "error"
    assert StopReason.of_run(status=RunStatus.COMPLETED, value="") == "end_turn"
    assert StopReason.of_run(status=RunStatus.CANCELLED, value="end_turn") == "cancelled"


def test_a_system_prompt_too_big_for_the_window_is_reported_as_such(fake_llm, make_agent, send, alice_api) -> None:
    # The loop fails the run; the run, the agent and the runs filter all show Letta's own reason (it was `error`).
    agent = make_agent(
        context_window_limit=1_000, memory_blocks=[{"label": "human", "value": "x " * 1800, "limit": 5000}]
    )
    run = send(agent, "hi")
    assert run.status == RunStatus.FAILED
    body = alice_api.get(f"/v1/runs/{public_id('run', run.id)}").json()
    assert (body["status"], body["stop_reason"]) == ("failed", "context_window_overflow_in_system_prompt")
    assert alice_api.get(f"/v1/agents/{public_id('agent', agent.id)}").json()["last_stop_reason"] == body["stop_reason"]
    listed = alice_api.get("/v1/runs/", {"stop_reason": "context_window_overflow_in_system_prompt"}).json()
    assert [r["id"] for r in listed] == [public_id("run", run.id)]


def test_runs_filtered_by_a_wire_reason_include_those_stored_under_engrams_own(
    fake_llm, make_agent, send, alice_api
) -> None:
    # The provider's "context too long" fails the run as context_window_overflow, shown to clients as `error`.
    agent = make_agent()
    too_long = "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000."
    fake_llm.default = Reply(
        error_status=400, error_body={"error": {"message": too_long, "code": "context_length_exceeded"}}
    )
    run = send(agent, "hi")
    assert (run.status, run.stop_reason) == (RunStatus.FAILED, "context_window_overflow")
    assert alice_api.get(f"/v1/runs/{public_id('run', run.id)}").json()["stop_reason"] == "error"
    listed = alice_api.get("/v1/runs/", {"stop_reason": "error"}).json()
    assert [r["id"] for r in listed] == [public_id("run", run.id)]


def test_an_unknown_stop_reason_filter_is_refused_naming_the_field(alice_api) -> None:
    response = alice_api.get("/v1/runs/", {"stop_reason": "bored"})
    assert response.status_code in (400, 422)
    assert "stop_reason" in response.content.decode()
