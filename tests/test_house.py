"""The test suite's own house rules: one fake LLM fixture pair, agents made by the services, rows the loop
writes made by the loop (a hand-written row says why in a comment just above it)."""

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
HAND_WRITES = re.compile(r"\b(Message|Step|Run|Passage)\.objects\.(create|bulk_create)\(|\bAgent\.objects\.create\(")
WHY = re.compile(r"#.*(on purpose|by hand)")


def sources() -> dict[Path, list[str]]:
    return {p: p.read_text().splitlines() for p in TESTS.rglob("*.py") if "node_modules" not in p.parts}


def test_there_is_one_fake_llm_fixture_pair() -> None:
    for name in ("fake_llm", "fake_llm_server"):
        found = [p.relative_to(TESTS) for p, lines in sources().items() if f"def {name}(" in "\n".join(lines)]
        assert found == [Path("conftest.py")], f"{name} is defined in {found}; keep the one in tests/conftest.py"


def test_the_backing_services_module_is_named_for_what_it_does() -> None:
    assert (TESTS / "backing.py").exists()
    assert not (TESTS / "services.py").exists()


def test_rows_are_written_by_hand_only_with_a_reason() -> None:
    unexplained = []
    for path, lines in sources().items():
        if path == Path(__file__):
            continue
        for number, line in enumerate(lines):
            if HAND_WRITES.search(line) and not any(WHY.search(above) for above in lines[max(0, number - 12) : number]):
                unexplained.append(f"{path.relative_to(TESTS)}:{number + 1}: {line.strip()}")
    assert not unexplained, "make these through the services or the loop (tests/factories.py), or say why:\n" + (
        "\n".join(unexplained)
    )
