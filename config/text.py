"""Text a database can store: no NUL character (PostgreSQL refuses it in text and jsonb) and no unpaired surrogate
(not UTF-8). Checked where input arrives (API bodies and parameters, agent files), so such input is a 422 naming
where it sits instead of a database error."""

from typing import Any

from django.core.exceptions import ValidationError


def check_storable(data: Any, root: str = "") -> None:
    """Every string and key of `data` (dicts, lists, strings). Iterative: a deep document cannot exhaust the stack."""
    stack: list[tuple[str, Any]] = [(root, data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                check_text(str(key), where)
                stack.append((where, item))
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str):
            check_text(value, path)


def check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError({path or "body": "holds an unpaired surrogate (not valid Unicode text)"}) from None
    if "\x00" in text:
        raise ValidationError({path or "body": "holds a NUL character, which cannot be stored"})
