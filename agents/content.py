"""Message content parts as the Letta SDKs send them: `{type: text, text}` and `{type: image, source}` with a
source of `{type: url, url}`, `{type: base64, media_type, data}` or `{type: letta, file_id, data, media_type}`.
Checked on every write (`clean_parts`), and read defensively (`image_url`), since rows written before the check
may hold anything."""

import base64
import binascii
from typing import Any

from django.core.exceptions import ValidationError

JSON = dict[str, Any]

_DETAILS = ("low", "high", "auto")
_URL_SCHEMES = ("http://", "https://", "data:image/")


def _source_type(source: JSON) -> Any:
    # The SDKs' source models default their `type`; infer it from the fields when it is left out.
    if "type" in source:
        return source["type"]
    return "url" if "url" in source else "letta" if "file_id" in source else "base64"


def _base64_ok(data: Any) -> bool:
    if not isinstance(data, str) or not data:
        return False
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _clean_source(source: Any, where: str) -> JSON:
    if not isinstance(source, dict):
        raise ValidationError({where: "must be an object with a type of url, base64 or letta"})
    kind = _source_type(source)
    detail = source.get("detail")
    if detail is not None and detail not in _DETAILS:
        raise ValidationError({f"{where}.detail": f"must be one of {', '.join(_DETAILS)}"})
    extra = {"detail": detail} if detail is not None else {}
    if kind == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url.startswith(_URL_SCHEMES):
            raise ValidationError({f"{where}.url": "must be an http(s) URL or a data:image/ URL"})
        return {"type": "url", "url": url, **extra}
    if kind in ("base64", "letta"):
        media_type = source.get("media_type")
        if not isinstance(media_type, str) or not media_type.startswith("image/"):
            raise ValidationError({f"{where}.media_type": "must be an image media type (image/png, …)"})
        if not _base64_ok(source.get("data")):
            # Engram keeps no uploaded files, so a `letta` source is usable only with its data inline.
            raise ValidationError({f"{where}.data": "must be the image, base64-encoded"})
        out: JSON = {"type": kind, "media_type": media_type, "data": source["data"], **extra}
        if kind == "letta":
            if not isinstance(source.get("file_id"), str):
                raise ValidationError({f"{where}.file_id": "must be a string"})
            out["file_id"] = source["file_id"]
        return out
    raise ValidationError({f"{where}.type": "must be url, base64 or letta"})


def clean_part(part: Any, where: str) -> JSON:
    """A text or image part, normalised (unknown keys dropped); anything else is a ValidationError naming
    `where` (e.g. `messages[0].content[1]`) or the field inside it."""
    if not isinstance(part, dict) or part.get("type", "text") not in ("text", "image"):
        raise ValidationError({where: "must be a {type: text, text} or {type: image, source} part"})
    if part.get("type", "text") == "text":
        if not isinstance(part.get("text"), str):
            raise ValidationError({f"{where}.text": "must be a string"})
        return {"type": "text", "text": part["text"]}
    return {"type": "image", "source": _clean_source(part.get("source"), f"{where}.source")}


def image_url(source: Any) -> str | None:
    """The URL a provider reads an image part's source from; None when the source is unusable (stored by an
    older version that did not check it)."""
    if not isinstance(source, dict):
        return None
    url = source.get("url")
    if isinstance(url, str) and url:
        return url
    media_type, data = source.get("media_type") or "image/png", source.get("data")
    if isinstance(media_type, str) and isinstance(data, str) and data:
        return f"data:{media_type};base64,{data}"
    return None


UNREADABLE_IMAGE = "[an image that could not be read]"
