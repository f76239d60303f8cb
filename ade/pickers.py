"""The model pickers of the agent forms: a text input offering the catalogue's models (lib.catalogue, the list
`/v1/models` and `/v1/models/embedding` serve), each with its context window or dimension. Any other litellm
handle can still be typed; the agent services check it. static/engram/pickers.js shows the picked model's window
and, where the form has a context window field, puts the window there."""

from typing import Any, Literal

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from lib import catalogue

Kind = Literal["chat", "embedding"]


def model_options(kind: Kind) -> list[tuple[str, int, str]]:
    """(handle, window or dimension, label) of the models offered, sorted by handle."""
    if kind == "chat":
        return [(h, w, f"{w:,} tokens") for h, w in sorted(catalogue.chat_models().items())]
    return [
        (h, catalogue.embedding_dim(h), f"{catalogue.embedding_dim(h):,} dimensions")
        for h in sorted(catalogue.embedding_models())
    ]


def model_note(kind: Kind, handle: str) -> str:
    """What the picker says under the field about `handle`."""
    for option, _, label in model_options(kind):
        if option == handle:
            return f"Context window: {label}" if kind == "chat" else f"Embedding size: {label}"
    return "Not in the catalogue: any litellm handle works; set its context window yourself." if handle else ""


class ModelPicker(forms.TextInput):
    def __init__(self, kind: Kind, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.kind = kind

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        list_id = f"{name}-options"
        note_id = f"{name}-note"
        attrs = {
            **(attrs or {}),
            "list": list_id,
            "data-model-picker": self.kind,
            "aria-describedby": note_id,
            "autocomplete": "off",
            "spellcheck": "false",
        }
        options = format_html_join(
            "",
            '<option value="{}" label="{}" data-size="{}"></option>',
            ((handle, label, size) for handle, size, label in model_options(self.kind)),
        )
        note = model_note(self.kind, str(value or ""))
        return format_html(
            '{}<datalist id="{}">{}</datalist><small class="muted model-note" id="{}" data-model-note>{}</small>',
            super().render(name, value, attrs, renderer),
            list_id,
            options,
            note_id,
            note,
        )
