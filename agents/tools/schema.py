"""Derive a tool's JSON schema from Python source: the function signature gives the parameters and their
types, a Google-style docstring gives the descriptions. Source is parsed (ast), never executed."""

import ast
import re
from typing import Any

from django.core.exceptions import ValidationError

JSON = dict[str, Any]

_SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "dict": "object", "Any": None}
_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Returns|Return|Raises|Yields|Examples?|Notes?)\s*:\s*$")
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")


def _type_schema(node: ast.expr | None) -> tuple[JSON, bool]:
    """(schema, optional) for an annotation node."""
    if node is None:
        return {}, False
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return _type_schema(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return {}, False
    if isinstance(node, ast.Constant) and node.value is None:
        return {"type": "null"}, True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, left_opt = _type_schema(node.left)
        right, right_opt = _type_schema(node.right)
        parts = [s for s in (left, right) if s.get("type") != "null"]
        return (parts[0] if len(parts) == 1 else {}), left_opt or right_opt
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    if name in _SCALARS:
        kind = _SCALARS[name]
        return ({"type": kind} if kind else {}), False
    if name in ("list", "List", "tuple", "Tuple", "set", "Sequence"):
        return {"type": "array"}, False
    if name in ("Dict", "Mapping"):
        return {"type": "object"}, False
    if isinstance(node, ast.Subscript):
        outer = node.value.id if isinstance(node.value, ast.Name) else getattr(node.value, "attr", "")
        inner = node.slice
        if outer == "Optional":
            schema, _ = _type_schema(inner)
            return schema, True
        if outer in ("Union",) and isinstance(inner, ast.Tuple):
            schemas = [_type_schema(e) for e in inner.elts]
            parts = [s for s, _ in schemas if s.get("type") != "null"]
            return (parts[0] if len(parts) == 1 else {}), any(o for _, o in schemas)
        if outer in ("list", "List", "Sequence", "set", "tuple", "Tuple"):
            item = inner.elts[0] if isinstance(inner, ast.Tuple) and inner.elts else inner
            items, _ = _type_schema(item)
            return ({"type": "array", "items": items} if items else {"type": "array"}), False
        if outer in ("dict", "Dict", "Mapping"):
            return {"type": "object"}, False
        if outer == "Literal":
            values = [
                e.value
                for e in (inner.elts if isinstance(inner, ast.Tuple) else [inner])
                if isinstance(e, ast.Constant)
            ]
            kinds = {type(v).__name__ for v in values}
            enum: JSON = {"enum": values}
            if len(kinds) == 1 and (kind := _SCALARS.get(kinds.pop())):
                enum["type"] = kind
            return enum, False
    return {}, False


def parse_google_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(summary, {arg: description}) from a Google-style docstring."""
    lines = doc.expandtabs().splitlines()
    summary: list[str] = []
    args: dict[str, str] = {}
    section = None
    current: str | None = None
    indent = 0
    for line in lines:
        match = _SECTION.match(line)
        if match:
            section = match.group(1).lower()
            current = None
            continue
        if section is None:
            summary.append(line.strip())
            continue
        if section not in ("args", "arguments", "parameters") or not line.strip():
            continue
        line_indent = len(line) - len(line.lstrip())
        arg = _ARG_LINE.match(line)
        if arg and (current is None or line_indent <= indent):
            current = arg.group(1).lstrip("*")
            indent = line_indent
            args[current] = arg.group(3).strip()
        elif current is not None:
            args[current] = f"{args[current]} {line.strip()}".strip()
    text = " ".join(s for s in summary if s).strip()
    return text, args


def schema_from_source(source_code: str, name: str | None = None) -> JSON:
    """The OpenAI function schema of `name` (or the last top-level function) in `source_code`."""
    try:
        module = ast.parse(source_code)
    except SyntaxError as exc:
        raise ValidationError({"source_code": f"is not valid Python: {exc.msg} (line {exc.lineno})"}) from None
    functions = [n for n in module.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if name:
        functions = [f for f in functions if f.name == name]
    if not functions:
        raise ValidationError({"source_code": f"defines no top-level function{f' named {name!r}' if name else ''}"})
    func = functions[-1]
    doc = ast.get_docstring(func) or ""
    summary, arg_docs = parse_google_docstring(doc)
    properties: JSON = {}
    required: list[str] = []
    positional = func.args.posonlyargs + func.args.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(func.args.defaults)) + list(func.args.defaults)
    params = list(zip(positional, defaults, strict=True))
    params += list(zip(func.args.kwonlyargs, func.args.kw_defaults, strict=True))
    for arg, default in params:
        if arg.arg in ("self", "agent_state"):
            continue
        schema, optional = _type_schema(arg.annotation)
        schema = dict(schema)
        if arg.arg in arg_docs:
            schema["description"] = arg_docs[arg.arg]
        properties[arg.arg] = schema
        if default is None and not optional:
            required.append(arg.arg)
    return {
        "name": func.name,
        "description": summary,
        "parameters": {"type": "object", "properties": properties, "required": required},
    }
