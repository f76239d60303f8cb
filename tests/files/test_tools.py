"""The file tools in the agent loop (the scripted LLM calls them): grep_files pages, open_files windows within the
character budget and closes the least recently used, semantic_search_files stays inside the agent's folders, and
the system message shows what is open."""

import time
from typing import Any

import pytest

from accounts.selectors import organization_id_for
from agents.models import Message
from agents.runtime.context import compile_system
from agents.services.folders import agent_folder_attach, agent_folder_detach
from files import search
from files.models import FileAgent, Folder
from files.services.folders import folder_create
from files.services.processing import file_process
from files.services.uploads import file_upload
from tests.factories import make_agent, send
from tests.fakes.llm_server import FakeLLM

pytestmark = pytest.mark.django_db


def folder_with(user: Any, name: str, files: dict[str, str]) -> Folder:
    folder = folder_create(organization_id=organization_id_for(user), name=name)
    for file_name, text in files.items():
        file, _ = file_upload(folder=folder, name=file_name, data=text.encode())
        assert file_process(file_id=str(file.id)) == "completed"
    return folder


def tool_output(run: Any, name: str) -> str:
    return str(Message.objects.get(run=run, role="tool", name=name).text)


LOG = "\n".join(f"{n}: event {'ERROR disk full' if n % 10 == 0 else 'ok'}" for n in range(1, 501))


def test_grep_files_pages_through_matches_with_context(alice: Any, fake_llm: FakeLLM, settings: Any) -> None:
    settings.ENGRAM_GREP_TIMEOUT_MS = 300
    agent = make_agent(alice)
    files = {"app.log": LOG, "other.md": "no match", "as.txt": "\n".join(["a" * 60 + "!"] * 50)}
    agent_folder_attach(agent=agent, folder=folder_with(alice, "logs", files))
    fake_llm.tool_call("grep_files", {"pattern": "ERROR", "context_lines": 1})
    fake_llm.tool_call("grep_files", {"pattern": "ERROR", "offset": 40, "include": "*.log"})
    fake_llm.tool_call("grep_files", {"pattern": "([unclosed"})
    fake_llm.tool_call("grep_files", {"pattern": "(a|aa)+$"})  # backtracks catastrophically on a line of a's
    fake_llm.reply("done")
    run = send(alice, agent, "find errors")
    first, second, bad, slow = (m.text for m in Message.objects.filter(run=run, role="tool").order_by("seq"))
    assert first.startswith("Found 50 matches in 1 files (showing 1-20).")
    assert "= logs/app.log:10 =" in first and "> 10: 10: event ERROR disk full" in first
    assert "  9: 9: event ok" in first and "offset=20" in first
    assert "(showing 41-50)" in second and "offset=" not in second.split("\n")[-1]
    assert "invalid regular expression" in bad
    assert "took longer than 0.3 s to match" in slow and "backtrack" in slow


def test_a_hostile_grep_pattern_stops_at_the_timeout(alice: Any, settings: Any) -> None:
    settings.ENGRAM_GREP_TIMEOUT_MS = 200
    agent = make_agent(alice)
    agent_folder_attach(agent=agent, folder=folder_with(alice, "slow", {"as.txt": "a" * 80 + "!\nplain line"}))
    started = time.monotonic()
    with pytest.raises(ValueError, match="took longer than 0.2 s"):
        search.grep(agent_id=agent.id, organization_id=agent.organization_id, pattern="(a|a)+$")
    # Unbounded, this pattern runs for longer than the universe has existed; the budget is 0.2 s (the regex
    # engine checks its clock between steps; generous for a loaded machine).
    assert time.monotonic() - started < 20
    # An ordinary pattern on the same file still answers.
    found = search.grep(agent_id=agent.id, organization_id=agent.organization_id, pattern=r"pla\w+ line")
    assert found.total == 1 and found.matches[0].line == 2


def test_open_files_keeps_a_bounded_number_open_and_the_window_in_the_prompt(
    alice: Any, fake_llm: FakeLLM, settings: Any
) -> None:
    settings.ENGRAM_FILES_MAX_OPEN = 2
    settings.ENGRAM_FILE_VIEW_CHARS = 600
    agent = make_agent(alice)
    files = {f"f{i}.txt": "\n".join(f"file {i} line {n}" for n in range(1, 301)) for i in range(3)}
    agent_folder_attach(agent=agent, folder=folder_with(alice, "docs", files))
    assert '<file status="closed" name="docs/f0.txt"/>' in compile_system(agent)
    fake_llm.tool_call("open_files", {"file_requests": [{"file_name": "docs/f0.txt", "offset": 100, "length": 5}]})
    fake_llm.tool_call("open_files", {"file_requests": [{"file_name": "f1.txt"}]})
    fake_llm.tool_call("open_files", {"file_requests": [{"file_name": "f2.txt", "offset": 3}]})
    fake_llm.tool_call("open_files", {"file_requests": [{"file_name": "nope.txt"}]})
    fake_llm.reply("read")
    run = send(alice, agent, "read them")
    outputs = [m.text for m in Message.objects.filter(run=run, role="tool").order_by("seq")]
    assert outputs[0] == "* Opened docs/f0.txt, lines 100 to 104"
    assert outputs[1].startswith("* Opened docs/f1.txt, lines 1 to ") and "character limit" in outputs[1]
    assert "Closed: docs/f0.txt" in outputs[2]  # the least recently used of the two open
    assert "No file named 'nope.txt'" in outputs[3] and "docs/f2.txt" in outputs[3]
    open_names = set(
        FileAgent.objects.filter(agent_id=agent.id, is_open=True).values_list("file__file_name", flat=True)
    )
    assert open_names == {"f1.txt", "f2.txt"}
    system = compile_system(agent)
    assert "- current_files_open=2" in system and "- max_files_open=2" in system
    assert "3: file 2 line 3" in system and "file 0 line 100" not in system
    # The last request the model saw had the files open at that point.
    assert "3: file 2 line 3" in str(fake_llm.last_chat()["messages"][0]["content"])
    f1 = FileAgent.objects.get(agent_id=agent.id, file__file_name="f1.txt")
    assert len(f1.visible_content) <= 600 and f1.end_line is not None and f1.end_line < 300


def test_the_file_tools_come_and_go_with_the_folders(alice: Any) -> None:
    agent = make_agent(alice)
    one, two = folder_with(alice, "one", {}), folder_with(alice, "two", {})
    file_tools = {"open_files", "grep_files", "semantic_search_files"}
    agent_folder_attach(agent=agent, folder=one)
    agent_folder_attach(agent=agent, folder=two)
    assert file_tools <= set(agent.tools.values_list("name", flat=True))
    agent_folder_detach(agent=agent, folder=one)
    assert file_tools <= set(agent.tools.values_list("name", flat=True))
    agent_folder_detach(agent=agent, folder=two)
    assert not file_tools & set(agent.tools.values_list("name", flat=True))


def test_semantic_search_files_sees_only_the_agents_own_folders(alice: Any, charlie: Any, fake_llm: FakeLLM) -> None:
    secret = "The vault combination is 31-17-4, written on the blue card."
    mine = make_agent(alice)
    agent_folder_attach(agent=mine, folder=folder_with(alice, "vault", {"vault.md": secret}))
    unattached = make_agent(alice, name="no-folders")
    folder_with(alice, "unattached", {"other.md": secret})
    outsider = make_agent(charlie)
    agent_folder_attach(agent=outsider, folder=folder_with(charlie, "mine", {"mine.md": "Nothing about vaults."}))
    query = "what is the vault combination?"
    hits = search.semantic_search(agent_id=mine.id, organization_id=mine.organization_id, query=query)
    assert [h.file_name for h in hits] == ["vault/vault.md"]
    assert not search.semantic_search(agent_id=unattached.id, organization_id=unattached.organization_id, query=query)
    theirs = search.semantic_search(agent_id=outsider.id, organization_id=outsider.organization_id, query=query)
    assert all("31-17-4" not in h.chunk.text for h in theirs)
    # Through the tool, in the loop.
    fake_llm.tool_call("semantic_search_files", {"query": query})
    fake_llm.reply("found")
    run = send(charlie, outsider, "search")
    assert "31-17-4" not in tool_output(run, "semantic_search_files")
    fake_llm.tool_call("semantic_search_files", {"query": query, "limit": 2})
    fake_llm.reply("found")
    run = send(alice, mine, "search")
    assert "31-17-4" in tool_output(run, "semantic_search_files")
    grep = search.grep(agent_id=outsider.id, organization_id=outsider.organization_id, pattern="31-17-4")
    assert grep.total == 0
