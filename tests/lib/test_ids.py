"""Public ids: built and parsed by lib.ids alone (issue 13, "one home per rule")."""

import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.exceptions import NotFound
from rest_framework.test import APIClient

from lib.ids import PREFIXES, local_id, parse_id, public_id, public_id_or_none, user_public_id

ROOT = Path(settings.BASE_DIR)
SKIP_DIRS = {".git", "node_modules", "migrations", "vendor", "var", "__pycache__"}
_prefix = "|".join(sorted((re.escape(p) for p in PREFIXES), key=len, reverse=True))
# agent-{x} in any f-string, "agent-" + x, x.removeprefix("agent-"), x[len("agent-"):], and 'block-{{ block.id }}' in
# a template (which compares with an id an event carries; DOM ids such as id="block-{{ … }}" are the ADE's own)
HAND_BUILT = re.compile(
    rf"""(?<![\w{{-])(?:{_prefix})-\{{(?!\{{)|["'](?:{_prefix})-["']\s*\+|removeprefix\(["'](?:{_prefix})-["']\)"""
    rf"""|len\(["'](?:{_prefix})-["']\)|'(?:{_prefix})-\{{\{{"""
)


def test_it_builds_and_parses_the_letta_form() -> None:
    value = uuid.uuid4()
    assert public_id("agent", value) == f"agent-{value}"  # the one hand-built id: the rule itself
    assert parse_id("agent", public_id("agent", value)) == value
    assert parse_id("agent", str(value)) == value  # a bare UUID is accepted too
    assert public_id("agent-env", value).startswith("agent-env-")
    assert public_id_or_none("step", None) is None and public_id_or_none("step", value) == public_id("step", value)
    assert local_id("message", 3) == "message-3"


@pytest.mark.parametrize("raw", ["agent-nope", "block-" + str(uuid.uuid4()), "", "agent-"])
def test_it_treats_a_malformed_or_foreign_id_as_missing(raw: str) -> None:
    with pytest.raises(NotFound, match="Agent .* not found"):
        parse_id("agent", raw)


def test_it_never_puts_an_integer_user_key_on_the_wire() -> None:
    first, again, second = user_public_id(1), user_public_id(1), user_public_id(2)
    assert first == again and first != second  # stable, and one per user
    assert first is not None and second is not None
    assert uuid.UUID(first.removeprefix("user-")) and not first.endswith("-1")
    assert user_public_id(None) is None


def _sources() -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        found += [Path(folder) / name for name in files if name.endswith((".py", ".html", ".js"))]
    return found


def test_it_has_no_hand_built_id_anywhere_else() -> None:
    home = ROOT / "lib" / "ids.py"
    offenders = []
    for path in sorted(_sources()):
        if path in (home, Path(__file__).resolve()):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if HAND_BUILT.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "build/parse public ids with lib.ids, not by hand:\n" + "\n".join(offenders)


def test_the_pattern_catches_what_it_should() -> None:
    assert HAND_BUILT.search('"id": f"agent-{agent.id}",')
    assert HAND_BUILT.search('"id": f"agent-env-{row.id}",')
    assert HAND_BUILT.search('pk=x.removeprefix("run-")')
    assert HAND_BUILT.search('api.get(f"/v1/runs/run-{run.id}/steps")')
    assert HAND_BUILT.search("detail.block_id=='block-{{ block.id }}'")
    assert not HAND_BUILT.search('marker = f"engram-bomb-{uuid.uuid4().hex}"')
    assert not HAND_BUILT.search('<article id="block-{{ block.id }}">')


@pytest.mark.django_db
def test_it_sends_no_integer_user_key_in_created_by_id(alice: Any, alice_api: APIClient) -> None:
    block = alice_api.post("/v1/blocks/", {"label": "notes", "value": "v"}, format="json").json()
    agent = alice_api.post("/v1/agents/", {"model": "openai/gpt-4o-mini"}, format="json").json()
    for created_by in (block["created_by_id"], block["last_updated_by_id"], agent["created_by_id"]):
        assert created_by == user_public_id(alice.pk)
        uuid.UUID(created_by.removeprefix("user-"))  # Letta's `user-<uuid>`, not `user-<integer key>`


def test_ordered_uuids_increase_in_the_order_they_are_made() -> None:
    import time

    from lib.ids import ordered_uuid

    made = [ordered_uuid() for _ in range(20_000)]  # many within one millisecond
    assert made == sorted(made) and len(set(made)) == len(made)
    assert [u.hex for u in made] == sorted(u.hex for u in made)  # SQLite stores them as hex text
    assert {u.version for u in made} == {7} and {u.variant for u in made} == {uuid.RFC_4122}
    millis = made[-1].int >> 80
    assert abs(millis - time.time_ns() // 1_000_000) < 60_000


def test_a_forked_child_makes_its_own_ordered_uuids() -> None:
    from lib.ids import ordered_uuid

    ordered_uuid()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: values of its own, still increasing
        values = [ordered_uuid() for _ in range(1000)]
        os.write(write, b"ok" if values == sorted(values) else b"no")
        os._exit(0)
    os.close(write)
    made = [ordered_uuid() for _ in range(1000)]
    os.waitpid(pid, 0)
    assert os.read(read, 2) == b"ok" and made == sorted(made)
