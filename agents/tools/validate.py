"""Validate tool-call arguments against a tool's JSON schema (the subset that tool schemas use)."""

from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def parameters_problem(parameters: Any) -> str | None:
    """Why a tool's `json_schema.parameters` cannot describe its arguments (None when it can): the executor and
    every provider need an object schema whose properties are schemas themselves."""
    if not isinstance(parameters, dict):
        return "must be an object (a JSON Schema of type object)"
    if parameters.get("type", "object") != "object":
        return "must have type 'object'"
    properties = parameters.get("properties", {})
    if not isinstance(properties, dict):
        return "properties must be an object of argument names to JSON Schemas"
    for name, schema in properties.items():
        if not isinstance(schema, dict):
            return f"properties.{name} must be an object (a JSON Schema)"
    required = parameters.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return "required must be a list of argument names"
    return None


def _check(value: Any, schema: dict[str, Any], path: str) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, str) and kind in _TYPES:
        ok = isinstance(value, _TYPES[kind]) and not (kind in ("integer", "number") and isinstance(value, bool))
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            ok = True
        if not ok:
            return f"argument '{path}' must be of type {kind}"
    if isinstance(schema.get("enum"), list) and value not in schema["enum"]:
        return f"argument '{path}' must be one of {schema['enum']}"
    if kind == "array" and isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            error = _check(item, schema["items"], f"{path}[{index}]")
            if error:
                return error
    return None


def validate_arguments(
    args: Any, parameters: dict[str, Any], *, allow_extra: frozenset[str] = frozenset()
) -> str | None:
    """None when valid, else a message for the model."""
    problem = parameters_problem(parameters)
    if problem:  # stored before create/update refused such schemas
        return f"the tool's json_schema.parameters {problem}; fix the tool's schema"
    if not isinstance(args, dict):
        return "arguments must be a JSON object"
    properties: dict[str, Any] = parameters.get("properties") or {}
    missing = [name for name in parameters.get("required") or [] if name not in args and name not in allow_extra]
    if missing:
        return f"missing required argument(s): {', '.join(missing)}"
    unknown = [name for name in args if name not in properties and name not in allow_extra]
    if unknown:
        return f"unexpected argument(s): {', '.join(unknown)}; expected: {', '.join(properties) or 'none'}"
    for name, value in args.items():
        if name in properties and value is not None:
            error = _check(value, properties[name], name)
            if error:
                return error
    return None
