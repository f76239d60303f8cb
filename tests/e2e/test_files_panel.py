"""The Files panel in Chromium against a live server: create a folder, upload files through the drop zone's
file input (each with its progress bar), watch them reach `completed` or `error` with the reason, preview one."""

import re
from typing import Any

import pytest

from agents.services.agents import agent_create
from tests.files.samples import CORRUPT_PDF
from tests.live import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_a_person_uploads_files_and_watches_them_processed(
    daphne_server: LiveServer, page: Any, alice: Any, tmp_path: Any
) -> None:
    page.set_default_timeout(60_000)
    agent = agent_create(actor=alice, name="Reader", model="openai/gpt-4o-mini", memory_blocks=[])
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nThe lighthouse keeper is called Maren.\n")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(CORRUPT_PDF)
    sign_in(page, daphne_server, "alice", "password-alice")
    page.goto(f"{daphne_server.url}/agents/{agent.id}/files/")
    page.fill("input[name=name]", "coast")
    page.click("button:text-is('Create folder')")
    page.wait_for_selector("article.folder[data-folder=coast]")
    page.set_input_files("article.folder[data-folder=coast] .dropzone input[type=file]", [str(notes), str(broken)])
    page.wait_for_selector("#uploads li progress")
    page.wait_for_selector("tr[data-file='notes.md'] .status.completed")
    page.wait_for_selector("tr[data-file='broken.pdf'] .status.failed")
    row = page.locator("tr[data-file='broken.pdf']")
    assert re.search(r"the PDF cannot be read", row.inner_text())
    page.locator("tr[data-file='notes.md'] summary", has_text="Preview").click()
    page.wait_for_selector("pre.preview:has-text('Maren')")
    screenshot(page, "files-panel")
