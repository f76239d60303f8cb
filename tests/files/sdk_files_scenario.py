"""The letta-client scenario for folders and files: create a folder, upload files, wait for `completed`, attach it,
and let the agent find a fact with grep_files and semantic_search_files, open and close files.

Runs in the test process (letta-client 1.7.12) and as a script under the newest 1.x SDK:
`python tests/files/sdk_files_scenario.py BASE_URL API_KEY`. Imports only the SDK and the standard library. The
fake LLM must have been scripted with script_fake_llm first."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

FACTS = """# Mission notes

The crew met on Monday to review the schedule.

## Launch

The launch code for the rocket is ZEBRA-42, kept in the captain's safe.

## Supplies

Water, dried fruit and coffee for ninety days.
"""
REPORT = "\n".join(f"Line {n}: routine telemetry, all systems nominal." for n in range(1, 201))
GREP = ("grep_files", {"pattern": r"ZEBRA-\d+", "context_lines": 1})
SEARCH = ("semantic_search_files", {"query": "what is the secret code to launch the rocket?", "limit": 3})
OPEN = ("open_files", {"file_requests": [{"file_name": "mission/facts.md", "offset": 5, "length": 3}]})


def script_fake_llm(fake: Any) -> None:
    fake.tool_call(*GREP)
    fake.reply("The code is ZEBRA-42 (grep).")
    fake.tool_call(*SEARCH)
    fake.reply("The code is ZEBRA-42 (search).")
    fake.tool_call(*OPEN)
    fake.reply("Opened the launch section.")


def _wait_completed(client: Any, folder_id: str, file_id: str) -> Any:
    deadline = time.monotonic() + 120
    while True:
        file = client.folders.files.retrieve(file_id, folder_id=folder_id)
        if file.processing_status in ("completed", "error") or time.monotonic() > deadline:
            return file
        time.sleep(0.2)


def _dump(response: Any) -> str:
    return json.dumps([m.model_dump(mode="json") for m in response.messages])


def run(base_url: str, api_key: str) -> None:
    from letta_client import Letta, NotFoundError

    client = Letta(base_url=base_url, api_key=api_key, max_retries=0)
    folder = client.folders.create(name="mission", description="Mission documents", instructions="Cite the file.")
    assert folder.id.startswith("source-"), folder.id
    assert folder.embedding_config.embedding_dim == 384
    assert any(f.id == folder.id for f in client.folders.list())

    facts = client.folders.files.upload(folder.id, file=("facts.md", FACTS.encode(), "text/markdown"))
    assert facts.processing_status in ("pending", "parsing", "embedding", "completed"), facts
    assert facts.source_id == folder.id
    report = client.folders.files.upload(folder.id, file=("report.txt", REPORT.encode(), "text/plain"))
    # Letta's duplicate handling: suffix by default, skip returns the existing file, error is a conflict.
    again = client.folders.files.upload(folder.id, file=("report.txt", b"other", "text/plain"))
    assert again.file_name == "report_(1).txt", again.file_name
    skipped = client.folders.files.upload(
        folder.id, file=("report.txt", b"other", "text/plain"), duplicate_handling="skip"
    )
    assert skipped.id == report.id
    for file in (facts, report, again):
        done = _wait_completed(client, folder.id, file.id)
        assert done.processing_status == "completed", done
        assert done.total_chunks and done.chunks_embedded == done.total_chunks, done
    client.folders.files.delete(again.id, folder_id=folder.id)
    names = sorted(f.file_name for f in client.folders.files.list(folder.id))
    assert names == ["facts.md", "report.txt"], names
    with_content = client.folders.files.retrieve(facts.id, folder_id=folder.id, include_content=True)
    assert "ZEBRA-42" in (with_content.content or "")

    agent = client.agents.create(name="reader", model="openai/gpt-4o-mini", memory_blocks=[])
    attached = client.agents.folders.attach(folder.id, agent_id=agent.id)
    assert {"open_files", "grep_files", "semantic_search_files"} <= {t.name for t in attached.tools}
    assert [f.id for f in client.agents.folders.list(agent.id)] == [folder.id]
    assert client.folders.agents.list(folder.id) == [agent.id]

    found = client.agents.messages.create(agent.id, messages=[{"role": "user", "content": "Find the launch code"}])
    assert "ZEBRA-42" in _dump(found) and "facts.md" in _dump(found)
    searched = client.agents.messages.create(agent.id, messages=[{"role": "user", "content": "Search for it"}])
    assert "ZEBRA-42" in _dump(searched), _dump(searched)
    opened = client.agents.messages.create(agent.id, messages=[{"role": "user", "content": "Open the launch part"}])
    assert "Opened mission/facts.md, lines 5 to 7" in _dump(opened), _dump(opened)

    views = {v.file_name: v for v in client.agents.files.list(agent.id)}
    assert views["mission/facts.md"].is_open and "ZEBRA-42" in (views["mission/facts.md"].visible_content or "")
    assert views["mission/facts.md"].start_line == 5 and views["mission/facts.md"].end_line == 7
    assert not views["mission/report.txt"].is_open
    closed_for_room = client.agents.files.open(report.id, agent_id=agent.id)
    assert closed_for_room == []
    assert {v.file_name for v in client.agents.files.list(agent.id, is_open=True)} == {
        "mission/facts.md",
        "mission/report.txt",
    }
    client.agents.files.close(facts.id, agent_id=agent.id)
    assert sorted(client.agents.files.close_all(agent.id)) == ["mission/report.txt"]
    assert not any(v.is_open for v in client.agents.files.list(agent.id))

    detached = client.agents.folders.detach(folder.id, agent_id=agent.id)
    assert not {"open_files", "grep_files", "semantic_search_files"} & {t.name for t in detached.tools}
    client.folders.delete(folder.id)
    try:
        client.folders.retrieve(folder.id)
    except NotFoundError:
        pass
    else:
        raise AssertionError("a deleted folder is still there")
    client.agents.delete(agent.id)


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
    print("ok")
