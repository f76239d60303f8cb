"""The letta-client archives scenario: a shared archive attached to two agents and searched from both (the search
routes and an agent's archival_memory_search driven by the scripted LLM), with the organization-wide passage search.

Runs in the test process (letta-client 1.7.12) and as a script under another interpreter holding the newest 1.x
SDK: `python tests/api/sdk_archives_scenario.py BASE_URL API_KEY`. It imports only the SDK and the standard
library. The fake LLM must have been scripted with script_fake_llm first."""

from __future__ import annotations

import sys
from typing import Any

EMBEDDING = "openai/text-embedding-3-small"
SEARCH_CALL = ("archival_memory_search", {"query": "launch code word"})
REPLY = "The code word is pelican."


def script_fake_llm(fake: Any) -> None:
    fake.tool_call(*SEARCH_CALL)
    fake.reply(REPLY)


def run(base_url: str, api_key: str) -> None:
    from letta_client import Letta, NotFoundError

    client = Letta(base_url=base_url, api_key=api_key, max_retries=0)
    archive = client.archives.create(name="team-notes", description="notes", embedding=EMBEDDING)
    assert archive.id.startswith("archive-") and archive.name == "team-notes"
    assert archive.embedding_config is not None and archive.embedding_config.handle == EMBEDDING
    assert client.archives.update(archive.id, description="Shared team notes").description == "Shared team notes"
    assert client.archives.retrieve(archive.id).description == "Shared team notes"
    assert archive.id in [a.id for a in client.archives.list(name="team-notes")]

    code = client.archives.passages.create(archive.id, text="The launch code word is pelican.", tags=["ops"])
    assert code.archive_id == archive.id and code.tags == ["ops"]
    batch = client.archives.passages.create_many(
        archive.id, passages=[{"text": f"Team fact {i}: the office plant is a fern."} for i in range(5)]
    )
    assert [p.text for p in batch] == [f"Team fact {i}: the office plant is a fern." for i in range(5)]

    agents = [
        client.agents.create(
            name=f"archive-agent-{i}",
            model="openai/gpt-4o-mini",
            embedding=EMBEDDING,
            memory_blocks=[],
            tools=["archival_memory_search"],
        )
        for i in range(2)
    ]
    for agent in agents:
        client.agents.archives.attach(archive.id, agent_id=agent.id)
        assert [a.id for a in client.archives.list(agent_id=agent.id)] == [archive.id]
    client.agents.passages.create(agents[0].id, text="My own note: pelicans nest at dawn.", tags=["birds"])

    # Both agents find the archive's passage; only the first finds its own note.
    for i, agent in enumerate(agents):
        found = client.agents.passages.search(agent.id, query="pelican code word")
        contents = [r.content for r in found.results]
        assert "The launch code word is pelican." in contents, contents
        assert ("My own note: pelicans nest at dawn." in contents) == (i == 0), contents
        tagged = client.agents.passages.search(agent.id, query="pelican", tags=["ops"])
        assert [r.content for r in tagged.results] == ["The launch code word is pelican."]

    # The organization's search covers agents' own passages and archives; archive_id narrows it to one archive.
    everywhere = client.passages.search(query="pelican")
    texts = [hit.passage.text for hit in everywhere]
    assert {"The launch code word is pelican.", "My own note: pelicans nest at dawn."} <= set(texts), texts
    assert all(hit.score > 0 for hit in everywhere)
    only = client.passages.search(query="pelican", archive_id=archive.id)
    assert only[0].passage.text == "The launch code word is pelican."
    assert {hit.passage.archive_id for hit in only} == {archive.id}
    as_second = [hit.passage.text for hit in client.passages.search(query="pelican", agent_id=agents[1].id)]
    assert as_second[0] == "The launch code word is pelican." and "My own note: pelicans nest at dawn." not in as_second

    # The second agent's archival_memory_search (driven by the scripted model) reaches the shared archive.
    response = client.agents.messages.create(
        agent_id=agents[1].id, messages=[{"role": "user", "content": "What is the launch code word?"}]
    )
    returns = [m for m in response.messages if m.message_type == "tool_return_message"]
    assert returns and "pelican" in returns[0].tool_return, [m.message_type for m in response.messages]
    assert response.messages[-1].content == REPLY

    # Detached, the second agent no longer sees it; deleted, nobody does.
    client.agents.archives.detach(archive.id, agent_id=agents[1].id)
    assert not list(client.archives.list(agent_id=agents[1].id))
    assert client.agents.passages.search(agents[1].id, query="pelican").results == []
    client.archives.passages.delete(code.id, archive_id=archive.id)
    left = [r.content for r in client.agents.passages.search(agents[0].id, query="launch code").results]
    assert "The launch code word is pelican." not in left
    client.archives.delete(archive.id)
    try:
        client.archives.retrieve(archive.id)
    except NotFoundError:
        pass
    else:
        raise AssertionError("a deleted archive is a 404")
    for agent in agents:
        client.agents.delete(agent.id)


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
    print("scenario passed")
