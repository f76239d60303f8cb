from typing import Any

from django import forms
from django.conf import settings

from accounts.models import Membership
from ade.pickers import ModelPicker
from agents.models import Agent, AgentType

# Panels list at most a few dozen rows a page; past this page the offset would overflow the database's integers.
PAGE_MAX = 100_000


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput, min_length=8)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class APIKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100)


class AgentSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)
    tag = forms.CharField(required=False, max_length=200)


class AgentImportForm(forms.Form):
    file = forms.FileField(label="Agent file (.af)", allow_empty_file=True)
    strip_messages = forms.BooleanField(required=False, label="Leave out the message history")
    override_existing_tools = forms.BooleanField(required=False, label="Replace my custom tools of the same name")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The server cuts a larger body off before any view sees it (api/uploads.py); the page says so first.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        self.fields["file"].widget.attrs["data-max-bytes"] = str(limit)
        self.fields["file"].help_text = f"At most {limit // (1024 * 1024) or 1} MB."


class ChatForm(forms.Form):
    text = forms.CharField(max_length=100_000, strip=False)

    def clean_text(self) -> str:
        text: str = self.cleaned_data["text"]
        if not text.strip():
            raise forms.ValidationError("Write a message first.")
        return text


class ArchivalSearchForm(forms.Form):
    MODES = [("hybrid", "hybrid"), ("vector", "meaning"), ("text", "words")]
    q = forms.CharField(required=False, max_length=2_000)
    mode = forms.ChoiceField(choices=MODES, required=False, initial="hybrid")
    tags = forms.CharField(required=False, max_length=1_000, help_text="comma-separated")
    tag_match = forms.ChoiceField(choices=[("any", "any tag"), ("all", "all tags")], required=False, initial="any")
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    page = forms.IntegerField(required=False, min_value=1, max_value=PAGE_MAX)

    def tag_list(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data.get("tags", "").split(",") if t.strip()]


class PassageInsertForm(forms.Form):
    text = forms.CharField(max_length=100_000, widget=forms.Textarea(attrs={"rows": 3}))
    tags = forms.CharField(required=False, max_length=1_000)

    def tag_list(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data.get("tags", "").split(",") if t.strip()]


class RecallSearchForm(forms.Form):
    ROLES = [("user", "user"), ("assistant", "assistant"), ("tool", "tool"), ("system", "system")]
    q = forms.CharField(required=False, max_length=2_000)
    roles = forms.MultipleChoiceField(choices=ROLES, required=False, widget=forms.CheckboxSelectMultiple)
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    page = forms.IntegerField(required=False, min_value=1, max_value=PAGE_MAX)


class BlockEditForm(forms.Form):
    value = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 6}))
    limit = forms.IntegerField(min_value=1, max_value=1_000_000)
    # The newest revision the editor started from ("" for none): a save over a newer one is a conflict.
    base_revision = forms.UUIDField(required=False, widget=forms.HiddenInput)


class BlockCreateForm(forms.Form):
    label = forms.SlugField(max_length=100, allow_unicode=True)
    value = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}))
    limit = forms.IntegerField(min_value=1, max_value=1_000_000, initial=5_000)


SECRET_MASK = "********"  # noqa: S105 (what a stored value shows as, not a password)
_DERIVED = {"tags", "secrets"}  # not attributes of the agent


class AgentSettingsForm(forms.Form):
    def tag_list(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data.get("tags", "").split(",") if t.strip()]

    name = forms.CharField(max_length=200)
    agent_type = forms.ChoiceField(
        choices=AgentType.choices,
        help_text="Switching attaches the new type's base tools; a default system prompt follows the type.",
    )
    model = forms.CharField(
        max_length=200, help_text="litellm handle, e.g. openai/gpt-4o-mini", widget=ModelPicker("chat")
    )
    embedding = forms.CharField(max_length=200, required=False, widget=ModelPicker("embedding"))
    context_window_limit = forms.IntegerField(
        min_value=256, max_value=10_000_000, help_text="Picking a model from the list sets its window here."
    )
    tags = forms.CharField(required=False, max_length=1_000, help_text="comma-separated")
    system = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 10}))
    secrets = forms.CharField(
        required=False,
        strip=False,
        max_length=200_000,
        label="Tool secrets",
        help_text=f"NAME=value per line: the environment of this agent's custom tools. Stored values show as "
        f"{SECRET_MASK}; leave one so to keep it, remove its line to delete it.",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, instance_agent: Agent | None = None, **kwargs: Any) -> None:
        if instance_agent is not None and "initial" not in kwargs and not args:
            initial = {name: getattr(instance_agent, name) for name in self.base_fields if name not in _DERIVED}
            initial["tags"] = ", ".join(t.tag for t in instance_agent.tag_rows.order_by("tag"))
            keys = instance_agent.secret_rows.order_by("key").values_list("key", flat=True)
            initial["secrets"] = "\n".join(f"{key}={SECRET_MASK}" for key in keys)
            kwargs["initial"] = initial
        super().__init__(*args, **kwargs)

    def secret_values(self, stored: dict[str, str]) -> dict[str, str]:
        """The new set from the NAME=value lines; a masked value keeps what is stored under that name."""
        values: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data.get("secrets", "").splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise forms.ValidationError({"secrets": f"line {number}: write NAME=value"})
            key = key.strip()
            values[key] = stored[key] if value == SECRET_MASK and key in stored else value
        return values


PRESETS = [
    ("blank", "Blank"),
    ("companion", "MemGPT-style companion"),
    ("assistant", "v1 assistant"),
]


class AgentCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    preset = forms.ChoiceField(choices=PRESETS, initial="assistant", widget=forms.RadioSelect)
    model = forms.CharField(
        max_length=200, required=False, help_text="empty: the server default", widget=ModelPicker("chat")
    )
    context_window_limit = forms.IntegerField(
        required=False,
        min_value=1_000,
        max_value=10_000_000,
        label="Context window",
        help_text="tokens; picking a model from the list sets its window (empty: the server default)",
    )
