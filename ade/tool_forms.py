"""Forms of the custom-tool editor (ade.views.tools). They only parse; the rules are agents.services.tools'."""

import json
from typing import Any

from django import forms

STARTER_SOURCE = '''def roll_dice(sides: int, times: int = 1) -> str:
    """Roll dice and report the results.

    Args:
        sides: How many sides each die has.
        times: How many dice to roll.

    Returns:
        The rolls, separated by commas.
    """
    import random

    return ", ".join(str(random.randint(1, sides)) for _ in range(times))
'''


class ToolSourceForm(forms.Form):
    source_code = forms.CharField(
        strip=False,
        max_length=200_000,
        label="Python source",
        help_text="One top-level function; its name, type hints and Google-style docstring make the schema.",
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "code", "autocomplete": "off"}),
    )
    # Set when the editor was opened from an agent's Tools panel: a new tool is attached to that agent.
    agent = forms.UUIDField(required=False, widget=forms.HiddenInput)


class ToolRunForm(forms.Form):
    source_code = forms.CharField(strip=False, max_length=200_000)
    args = forms.CharField(
        required=False,
        strip=False,
        max_length=100_000,
        label="Arguments (JSON object)",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "code"}),
    )

    def clean_args(self) -> dict[str, Any]:
        raw = self.cleaned_data.get("args", "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("must be a JSON object of argument names to values")
        return value


def example_args(schema: dict[str, Any]) -> str:
    """A JSON object with a placeholder per parameter of the schema, to start the run panel's arguments from."""
    blanks = {"string": "", "integer": 0, "number": 0, "boolean": False, "array": [], "object": {}}
    params = schema.get("parameters") or {}
    properties = params.get("properties") or {}
    values = {
        name: blanks.get(str(spec.get("type")) if isinstance(spec, dict) else "")
        for name, spec in properties.items()
        if name != "request_heartbeat"
    }
    return json.dumps(values, indent=2, ensure_ascii=False)
