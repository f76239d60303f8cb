"""Text a database can store: no NUL character (PostgreSQL refuses it in text and jsonb) and no unpaired surrogate
(not UTF-8), in a document no deeper than MAX_JSON_DEPTH. Checked where input arrives (API bodies and parameters,
agent files), so such input is a 422 naming where it sits instead of a database error or a RecursionError."""

import json
from typing import Any

from django.core.exceptions import ValidationError

# Python's recursive json, copy and serializer code runs out of stack near 1,000 levels; no document the API
# takes (agent files, tool schemas included) comes near 64.
MAX_JSON_DEPTH = 64


def _too_deep(where: str) -> ValidationError:
    return ValidationError({where: f"is nested deeper than {MAX_JSON_DEPTH} levels"})


def check_storable(data: Any, root: str = "") -> None:
    """Every string and key of `data` (dicts, lists, strings), and its depth. Iterative: a deep document cannot
    exhaust the stack."""
    stack: list[tuple[str, Any, int]] = [(root, data, 0)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, dict | list | tuple) and depth >= MAX_JSON_DEPTH:
            raise _too_deep(root or "body")
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                check_text(str(key), where)
                stack.append((where, item, depth + 1))
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            check_text(value, path)


def check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError({path or "body": "holds an unpaired surrogate (not valid Unicode text)"}) from None
    if "\x00" in text:
        raise ValidationError({path or "body": "holds a NUL character, which cannot be stored"})


def json_parse(text: str | bytes, where: str) -> Any:
    """JSON from a form field or file: malformed or too deep is a ValidationError naming `where`."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise _too_deep(where) from None
    except ValueError as exc:
        raise ValidationError({where: f"is not valid JSON ({exc})"}) from None
    check_storable(data, root=where)
    return data
