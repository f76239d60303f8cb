"""Tool rules (Letta's `tool_rules`): which tools the agent may call next, which one it must call, and whether a
call ends or continues the run. Pure: the loop hands in the run's tool-call history and applies the answers.

History = the calls of the current run that ran and succeeded, in order (a call the rules rejected, an unknown
tool or a tool error does not count: a rule is satisfied by a call that happened)."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

RUN_FIRST = "run_first"
EXIT_LOOP = "exit_loop"
CONTINUE_LOOP = "continue_loop"
CHILD = "constrain_child_tools"
PARENT = "parent_last_tool"
MAX_COUNT = "max_count_per_step"
REQUIRED = "required_before_exit"
CONDITIONAL = "conditional"
# Not about order: a call of the tool waits for a human's approval (agents.services.approvals); see approval_tools.
REQUIRES_APPROVAL = "requires_approval"

# type → the fields it takes besides `type`, `tool_name` and `prompt_template` (accepted, ignored)
_FIELDS: dict[str, set[str]] = {
    RUN_FIRST: set(),
    EXIT_LOOP: set(),
    CONTINUE_LOOP: set(),
    CHILD: {"children", "child_arg_nodes"},
    PARENT: {"children"},
    MAX_COUNT: {"max_count_limit"},
    REQUIRED: set(),
    CONDITIONAL: {"child_output_mapping", "default_child", "require_output_mapping"},
    REQUIRES_APPROVAL: set(),
}
RULE_TYPES = tuple(_FIELDS)


@dataclass(frozen=True)
class Call:
    name: str
    output: str


@dataclass(frozen=True)
class Plan:
    """What the next request offers. `allowed` None: every tool; `force`: tool_choice names this tool;
    `require`: some tool must be called (tool_choice "required")."""

    allowed: frozenset[str] | None = None
    force: str | None = None
    require: bool = False


def _names(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)


def clean(rules: Any) -> list[dict[str, Any]]:
    """Validate `tool_rules` as the API receives them. Raises ValidationError({"tool_rules": reason})."""
    if rules is None:
        return []
    if not isinstance(rules, list):
        raise ValidationError({"tool_rules": "must be a list of objects"})
    out = []
    for index, rule in enumerate(rules):

        def fail(reason: str, index: int = index) -> ValidationError:
            return ValidationError({"tool_rules": f"item {index}: {reason}"})

        if not isinstance(rule, dict):
            raise fail("must be an object")
        kind = rule.get("type")
        if kind not in _FIELDS:
            raise fail(f"unknown type {kind!r} (one of: {', '.join(RULE_TYPES)})")
        name = rule.get("tool_name")
        if not isinstance(name, str) or not name.strip():
            raise fail(f"'tool_name' is required ({kind} rules need a non-empty tool name)")
        unknown = set(rule) - {"type", "tool_name", "prompt_template"} - _FIELDS[kind]
        if unknown:
            raise fail(f"unknown field(s) for a {kind} rule: {', '.join(sorted(unknown))}")
        if rule.get("prompt_template") is not None and not isinstance(rule["prompt_template"], str):
            raise fail("'prompt_template' must be a string")
        if kind in (CHILD, PARENT) and not _names(rule.get("children")):
            raise fail(f"'children' must be a non-empty list of tool names for a {kind} rule")
        if kind == MAX_COUNT:
            limit = rule.get("max_count_limit")
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise fail("'max_count_limit' must be an integer of at least 1")
        if kind == CONDITIONAL:
            mapping = rule.get("child_output_mapping")
            if not isinstance(mapping, dict) or not all(isinstance(v, str) and v.strip() for v in mapping.values()):
                raise fail("'child_output_mapping' must be an object mapping tool outputs to tool names")
            default = rule.get("default_child")
            if default is not None and (not isinstance(default, str) or not default.strip()):
                raise fail("'default_child' must be a tool name or null")
            if not isinstance(rule.get("require_output_mapping", False), bool):
                raise fail("'require_output_mapping' must be a boolean")
        out.append(dict(rule))
    return out


def _output_matches(output: str, key: str) -> bool:
    text = output.strip()
    if text == key:
        return True
    return text.lower() in ("true", "false") and text.lower() == key.strip().lower()


def approval_tools(rules: Any) -> set[str]:
    """The tools whose calls wait for approval (requires_approval rules) among stored rules."""
    if not isinstance(rules, list):
        return set()
    return {
        r["tool_name"]
        for r in rules
        if isinstance(r, dict) and r.get("type") == REQUIRES_APPROVAL and isinstance(r.get("tool_name"), str)
    }


@dataclass
class ToolRules:
    """An agent's rules, parsed once per run. Falsy when the agent has none (the loop then skips all of this)."""

    init: list[str] = field(default_factory=list)
    terminal: set[str] = field(default_factory=set)
    continuing: set[str] = field(default_factory=set)
    children: dict[str, set[str]] = field(default_factory=dict)  # tool → what may follow it
    parents: dict[str, set[str]] = field(default_factory=dict)  # child → the tools it may directly follow
    max_count: dict[str, int] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)
    conditional: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, rules: Iterable[dict[str, Any]]) -> "ToolRules":
        """Parse stored rules; a malformed one (stored before validation was strict) is ignored."""
        out = cls()
        for rule in rules:
            kind, name = rule.get("type"), rule.get("tool_name")
            if not isinstance(name, str) or not name:
                continue
            if kind == RUN_FIRST and name not in out.init:
                out.init.append(name)
            elif kind == EXIT_LOOP:
                out.terminal.add(name)
            elif kind == CONTINUE_LOOP:
                out.continuing.add(name)
            elif kind == CHILD and _names(rule.get("children")):
                out.children.setdefault(name, set()).update(rule["children"])
            elif kind == PARENT and _names(rule.get("children")):
                for child in rule["children"]:
                    out.parents.setdefault(child, set()).add(name)
            elif kind == MAX_COUNT and isinstance(rule.get("max_count_limit"), int):
                out.max_count[name] = min(out.max_count.get(name, rule["max_count_limit"]), rule["max_count_limit"])
            elif kind == REQUIRED and name not in out.required:
                out.required.append(name)
            elif kind == CONDITIONAL and isinstance(rule.get("child_output_mapping"), dict):
                out.conditional[name] = rule
        return out

    def __bool__(self) -> bool:
        return bool(
            self.init
            or self.terminal
            or self.continuing
            or self.children
            or self.parents
            or self.max_count
            or self.required
            or self.conditional
        )

    def allowed(self, history: list[Call], available: Iterable[str]) -> frozenset[str] | None:
        """The tools that may be called now (None: no constraint)."""
        names = set(available)
        allowed = set(names)
        if not history and self.init:
            allowed &= set(self.init)
        last = history[-1] if history else None
        if last is not None and last.name in self.children:
            allowed &= self.children[last.name]
        if last is not None and last.name in self.conditional:
            allowed &= self._conditional_next(self.conditional[last.name], last.output, names)
        for child, parents in self.parents.items():
            if last is None or last.name not in parents:
                allowed.discard(child)
        for name, limit in self.max_count.items():
            if sum(1 for c in history if c.name == name) >= limit:
                allowed.discard(name)
        return None if allowed == names else frozenset(allowed)

    @staticmethod
    def _conditional_next(rule: dict[str, Any], output: str, names: set[str]) -> set[str]:
        for key, child in rule["child_output_mapping"].items():
            if _output_matches(output, str(key)):
                return {child}
        if rule.get("default_child"):
            return {rule["default_child"]}
        if rule.get("require_output_mapping"):
            return set()  # an output no case maps: no tool may follow
        return names

    def missing_required(self, history: list[Call], available: Iterable[str]) -> list[str]:
        """required_before_exit tools (of those the agent has) not called yet in the run."""
        called, names = {c.name for c in history}, set(available)
        return [name for name in self.required if name not in called and name in names]

    def plan(self, history: list[Call], available: Iterable[str], *, exit_blocked: bool) -> Plan:
        """The next request's tools. `exit_blocked`: the previous step tried to end the run before every
        required_before_exit tool was called, so the first missing one is forced."""
        names = set(available)
        allowed = self.allowed(history, names)
        missing = self.missing_required(history, names) if exit_blocked else []
        if missing:
            force = missing[0]
            return Plan(allowed=None if allowed is None else allowed | {force}, force=force)
        if not history and self.init:
            init = [n for n in self.init if allowed is None or n in allowed]
            if len(init) == 1:
                return Plan(allowed=allowed, force=init[0])
            return Plan(allowed=allowed, require=bool(init))
        return Plan(allowed=allowed)

    def ends_run(self, calls: list[Call]) -> bool:
        return any(c.name in self.terminal for c in calls)

    def continues_run(self, calls: list[Call]) -> bool:
        return any(c.name in self.continuing for c in calls)
