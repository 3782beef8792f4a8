"""Rule trees: ``all`` / ``any`` / ``not`` over conditions, compiled once, evaluated two ways.

    {"all": [{"type": "event_count", "params": {...}},
             {"not": {"type": "device", "params": {"in": ["mobile"]}}}]}

``matches`` answers for one visitor in one request. For the database, request conditions are
unknown, so a tree gives two filters: ``possible_q`` (could match in some request: what
membership stores) and ``certain_q`` (matches whatever the request). For a tree of profile
conditions only, the two are the same filter and equal ``matches``.
"""

from __future__ import annotations

import typing

from django.db.models import Q

from .base import PROFILE, REQUEST, Condition, ConditionError, EvalContext, QContext
from .registry import condition_types

MAX_DEPTH = 12
MAX_NODES = 200
EVERYONE = ~Q(pk__in=[])
NOBODY = Q(pk__in=[])


class Node:
    def matches(self, ctx: EvalContext) -> bool:
        raise NotImplementedError

    def possible(self, ctx: EvalContext) -> bool:
        """Could match in some request: the in-memory twin of ``possible_q``."""
        raise NotImplementedError

    def certain(self, ctx: EvalContext) -> bool:
        raise NotImplementedError

    def possible_q(self, ctx: QContext) -> Q:
        raise NotImplementedError

    def certain_q(self, ctx: QContext) -> Q:
        raise NotImplementedError

    def leaves(self) -> list[Condition]:
        raise NotImplementedError


class Leaf(Node):
    def __init__(self, condition: Condition):
        self.condition = condition

    def matches(self, ctx):
        return self.condition.matches(ctx)

    def possible(self, ctx):
        return True if self.condition.kind == REQUEST else self.condition.matches(ctx)

    def certain(self, ctx):
        return False if self.condition.kind == REQUEST else self.condition.matches(ctx)

    def possible_q(self, ctx):
        return EVERYONE if self.condition.kind == REQUEST else self.condition.to_q(ctx)

    def certain_q(self, ctx):
        return NOBODY if self.condition.kind == REQUEST else self.condition.to_q(ctx)

    def leaves(self):
        return [self.condition]


class All(Node):
    def __init__(self, children: list[Node]):
        self.children = children

    def matches(self, ctx):
        return all(child.matches(ctx) for child in self.children)

    def possible(self, ctx):
        return all(child.possible(ctx) for child in self.children)

    def certain(self, ctx):
        return all(child.certain(ctx) for child in self.children)

    def possible_q(self, ctx):
        return _fold(self.children, ctx, "possible_q", Q.__and__, EVERYONE)

    def certain_q(self, ctx):
        return _fold(self.children, ctx, "certain_q", Q.__and__, EVERYONE)

    def leaves(self):
        return [leaf for child in self.children for leaf in child.leaves()]


class AnyOf(All):
    def matches(self, ctx):
        return any(child.matches(ctx) for child in self.children)

    def possible(self, ctx):
        return any(child.possible(ctx) for child in self.children)

    def certain(self, ctx):
        return any(child.certain(ctx) for child in self.children)

    def possible_q(self, ctx):
        return _fold(self.children, ctx, "possible_q", Q.__or__, NOBODY)

    def certain_q(self, ctx):
        return _fold(self.children, ctx, "certain_q", Q.__or__, NOBODY)


class Not(Node):
    def __init__(self, child: Node):
        self.child = child

    def matches(self, ctx):
        return not self.child.matches(ctx)

    def possible(self, ctx):
        return not self.child.certain(ctx)

    def certain(self, ctx):
        return not self.child.possible(ctx)

    def possible_q(self, ctx):
        return ~self.child.certain_q(ctx)

    def certain_q(self, ctx):
        return ~self.child.possible_q(ctx)

    def leaves(self):
        return self.child.leaves()


def _fold(children, ctx, method, combine, empty) -> Q:
    if not children:
        return empty
    result = getattr(children[0], method)(ctx)
    for child in children[1:]:
        result = combine(result, getattr(child, method)(ctx))
    return result


def compile_rules(rules: typing.Any) -> Node:
    """Validate a rule tree and build it; ``ConditionError`` names the path to the bad node."""
    counter = [0]
    return _compile(rules, "", 0, counter)


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path and not part.startswith("[") else f"{path}{part}"


def _compile(raw: typing.Any, path: str, depth: int, counter: list[int]) -> Node:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise ConditionError(path, f"A segment has at most {MAX_NODES} conditions and groups.")
    if depth > MAX_DEPTH:
        raise ConditionError(path, f"Groups nest at most {MAX_DEPTH} deep.")
    if not isinstance(raw, dict):
        raise ConditionError(path, "Each node must be an object.")
    groups = [key for key in ("all", "any", "not") if key in raw]
    if groups:
        if len(raw) != 1:
            raise ConditionError(path, "A group has exactly one key: 'all', 'any' or 'not'.")
        key = groups[0]
        here = _join(path, key)
        if key == "not":
            return Not(_compile(raw["not"], here, depth + 1, counter))
        children = raw[key]
        if not isinstance(children, list):
            raise ConditionError(here, "Must be a list of conditions or groups.")
        nodes = [
            _compile(child, f"{here}[{i}]", depth + 1, counter) for i, child in enumerate(children)
        ]
        return All(nodes) if key == "all" else AnyOf(nodes)
    unknown = set(raw) - {"type", "params"}
    if unknown:
        raise ConditionError(_join(path, sorted(unknown)[0]), "Unknown key.")
    type_name = raw.get("type")
    if not isinstance(type_name, str):
        raise ConditionError(_join(path, "type"), "Required: a condition type.")
    condition_class = condition_types().get(type_name)
    if condition_class is None:
        raise ConditionError(_join(path, "type"), f"Unknown condition type '{type_name[:64]}'.")
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise ConditionError(_join(path, "params"), "Must be an object.")
    try:
        return Leaf(condition_class(params))
    except ConditionError as exc:
        raise ConditionError(_join(path, exc.path), exc.message) from None


def validate(rules: typing.Any) -> None:
    """Raise ``ConditionError`` (with the path) if a rule tree is invalid."""
    compile_rules(rules)


def describe_kinds(node: Node) -> dict[str, list[str]]:
    """Which condition types of a tree are stored (profile) and which are checked live."""
    kinds: dict[str, list[str]] = {PROFILE: [], REQUEST: []}
    for leaf in node.leaves():
        if leaf.type not in kinds[leaf.kind]:
            kinds[leaf.kind].append(leaf.type)
    return kinds
