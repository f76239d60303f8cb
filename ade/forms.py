from typing import Any

from django import forms
from django.conf import settings

from accounts.models import Membership
from ade.pickers import ModelPicker
from agents.models import Agent, AgentType, MCPServer

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
    mcp_credentials = forms.CharField(
        required=False,
        label="MCP server credentials",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "weather-service auth_token=…"}),
        help_text="Files carry MCP servers without their credentials. One per line: the server's name, then "
        "auth_token=…, env.NAME=… or custom_headers.Name=… (the import names what it needs).",
    )

    def clean_mcp_credentials(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for number, line in enumerate((self.cleaned_data.get("mcp_credentials") or "").splitlines(), start=1):
            if not line.strip():
                continue
            head, found, value = line.partition("=")
            server, _, credential = head.strip().rpartition(" ")
            if not found or not server.strip() or not credential:
                raise forms.ValidationError(f"line {number}: write <server name> auth_token=… (or env.NAME=…)")
            entry = out.setdefault(server.strip(), {})
            kind, _, name = credential.partition(".")
            if kind == "auth_token" and not name:
                entry["auth_token"] = value.strip()
            elif kind in ("env", "custom_headers") and name:
                entry.setdefault(kind, {})[name] = value.strip()
            else:
                raise forms.ValidationError(
                    f"line {number}: {credential!r} is not auth_token, env.NAME or custom_headers.Name"
                )
        return out

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
    archive = forms.UUIDField(required=False)  # browse or search this shared archive instead of the agent's memory

    def tag_list(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data.get("tags", "").split(",") if t.strip()]


class PassageInsertForm(forms.Form):
    text = forms.CharField(max_length=100_000, widget=forms.Textarea(attrs={"rows": 3}))
    tags = forms.CharField(required=False, max_length=1_000)
    archive = forms.UUIDField(required=False)  # into this shared archive instead of the agent's own memory

    def tag_list(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data.get("tags", "").split(",") if t.strip()]


class ArchiveCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, max_length=10_000)


class ArchiveAttachForm(forms.Form):
    archive = forms.UUIDField()


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


def _pairs(text: str, separator: str, field: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, found, value = line.partition(separator)
        if not found or not key.strip():
            raise forms.ValidationError(f"line {number}: write NAME{separator}value")
        out[key.strip()] = value.strip()
    return out


class MCPServerForm(forms.Form):
    """An MCP server as the ADE asks for it; `config()` is the Letta `config` object the services take."""

    server_name = forms.CharField(max_length=200, label="Name")
    mcp_server_type = forms.ChoiceField(choices=MCPServer.Kind.choices, label="Transport")
    command = forms.CharField(required=False, max_length=1000, help_text="stdio: the program to run")
    args = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="One per line")
    env = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="NAME=value, one per line (encrypted)"
    )
    server_url = forms.CharField(required=False, max_length=2000, label="URL")
    auth_header = forms.CharField(required=False, max_length=200, initial="Authorization")
    auth_token = forms.CharField(required=False, max_length=10_000, help_text="Encrypted; shown masked")
    custom_headers = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Name: value, one per line (encrypted)"
    )

    def clean_env(self) -> dict[str, str]:
        return _pairs(self.cleaned_data.get("env") or "", "=", "env")

    def clean_custom_headers(self) -> dict[str, str]:
        return _pairs(self.cleaned_data.get("custom_headers") or "", ":", "custom_headers")

    def config(self) -> dict[str, Any]:
        data = self.cleaned_data
        if data["mcp_server_type"] == MCPServer.Kind.STDIO:
            args = [a for a in (data.get("args") or "").splitlines() if a.strip()]
            return {"mcp_server_type": "stdio", "command": data["command"], "args": args, "env": data["env"] or None}
        return {
            "mcp_server_type": data["mcp_server_type"],
            "server_url": data["server_url"],
            "auth_header": data.get("auth_header") or None,
            "auth_token": data.get("auth_token") or None,
            "custom_headers": data["custom_headers"] or None,
        }


class MCPToolAttachForm(forms.Form):
    agent = forms.UUIDField()
