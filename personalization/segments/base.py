"""The contract every condition type fulfils, and the context it is evaluated in.

A condition is one class with both a per-request predicate (``matches``) and, for conditions on
the stored profile, a database filter (``to_q``) built from the same parameters. Conditions on
the request (device of this request, local time, referrer...) have no ``to_q``: they cannot be
known in bulk, so membership treats them as "may match" and the decision checks them live.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.db.models import Q

from ..profiles.snapshot import ProfileSnapshot
from ..text import type_names
from ..types import RequestContext
from . import fields as field_specs

PROFILE = "profile"
REQUEST = "request"


class ConditionError(ValueError):
    """A rule tree is invalid; ``path`` says where (e.g. ``all[2].any[0].params.value``)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class EvalContext:
    """What a predicate may look at: the profile snapshot, and the request when there is one."""

    snapshot: ProfileSnapshot
    now: datetime
    request: RequestContext | None = None
    timezone: str = ""
    is_authenticated: bool = False
    user_groups: frozenset[str] = frozenset()
    # Slugs of segments already known to hold (for "member of another segment").
    segments: frozenset[str] = frozenset()
    segment_slug: str = ""

    @property
    def visitor_id(self) -> uuid.UUID:
        return self.snapshot.visitor_id


@dataclass(frozen=True)
class QContext:
    """What a database filter may depend on: the time, and the other segments' filters."""

    now: datetime
    segment_slug: str = ""
    member_q: dict[str, Q] = field(default_factory=dict)


class Condition:
    """Base class. Subclasses set ``type``, ``kind`` and ``label``, parse params in ``__init__``.

    ``__init__`` validates its params and raises ``ConditionError`` with a path relative to the
    node (``params.value``); the compiler prefixes the node's own path.
    """

    type: ClassVar[str] = ""
    kind: ClassVar[str] = PROFILE
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Whether the result can change with time alone (windows): such segments are recomputed
    # on a schedule.
    time_dependent: ClassVar[bool] = False
    # The parameters, described once (``fields.field``): the rule builder draws them and
    # ``__init__`` enforces them. ``None``: the builder offers a JSON box for the params.
    fields: ClassVar[list[dict[str, Any]] | None] = None

    def __init__(self, params: dict[str, Any]):
        self.params = params
        if self.fields is not None:
            field_specs.check(self.fields, params)

    @classmethod
    def param_fields(cls, segment_choices: list[tuple[str, str]] | None = None):
        """The fields as the builder shows them (a class may fill options in, e.g. segments)."""
        return field_specs.for_builder(cls.fields)

    @classmethod
    def options(cls, name: str) -> list[Any]:
        """The options declared for parameter ``name``: what the class validates against."""
        return field_specs.options(cls.fields or [], name)

    def matches(self, ctx: EvalContext) -> bool:
        raise NotImplementedError

    def to_q(self, ctx: QContext) -> Q:
        raise NotImplementedError(f"{self.type} is evaluated per request")

    def changes_at(self, ctx: EvalContext) -> datetime | None:
        """The first instant after ``ctx.now`` at which ``matches`` could change by time alone
        (an event leaving a window), or None. The window sweep re-evaluates the visitor then."""
        return None

    def references(self) -> set[str]:
        """Slugs of other segments this condition depends on."""
        return set()


# -- parameter helpers, each raising ConditionError with the parameter's path -----------------

OPERATORS = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "!=": lambda a, b: a != b,
}
LOOKUPS = {">=": "gte", "<=": "lte", "==": "exact", ">": "gt", "<": "lt"}
RANGE_OPS = [*LOOKUPS, "between"]
# Windows are whole hours or days. Minutes are not offered: counters are kept in time buckets
# (profiles.buckets), so "within 30 minutes" could not be counted as promised. Stored minute
# windows were converted to hours by migration 0008_windows_minutes_to_hours.
UNITS = {"hours": 3600, "days": 86400}
RETIRED_UNITS = {"minutes": "Minutes are not offered: windows are whole hours or days."}


def param(params: dict, name: str, types: tuple[type, ...], *, required: bool = True, default=None):
    value = params.get(name, default)
    if value is None:
        if required:
            raise ConditionError(f"params.{name}", "Required.")
        return default
    if isinstance(value, bool) and bool not in types:
        raise ConditionError(f"params.{name}", f"Must be {type_names(types)}.")
    if not isinstance(value, types):
        raise ConditionError(f"params.{name}", f"Must be {type_names(types)}.")
    return value


def choice(params: dict, name: str, choices, *, default=None) -> str:
    value = param(params, name, (str,), required=default is None, default=default)
    if value not in choices:
        raise ConditionError(f"params.{name}", f"Must be one of: {', '.join(choices)}.")
    return value


def count_value(params: dict, name: str = "value") -> int:
    value = param(params, name, (int,))
    if value < 0:
        raise ConditionError(f"params.{name}", "Must not be negative.")
    return value


def window(params: dict, name: str = "within") -> timedelta | None:
    """``{"amount": 24, "unit": "hours"}``, or absent/null for "ever"."""
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConditionError(f"params.{name}", 'Must be {"amount": N, "unit": "hours"} or null.')
    amount = value.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 1 <= amount <= 100_000:
        raise ConditionError(f"params.{name}.amount", "Must be a whole number from 1.")
    unit = value.get("unit")
    if unit in RETIRED_UNITS:
        raise ConditionError(f"params.{name}.unit", RETIRED_UNITS[unit])
    if unit not in UNITS:
        raise ConditionError(f"params.{name}.unit", f"Must be one of: {', '.join(UNITS)}.")
    seconds = amount * UNITS[unit]
    if seconds > 400 * 86400:
        raise ConditionError(f"params.{name}", "At most 400 days.")
    return timedelta(seconds=seconds)


# Editors' regular expressions run in two engines: RE2 in memory (linear time, no
# backtracking) and PostgreSQL's ``~`` in SQL (Spencer's ARE engine, a DFA/NFA hybrid that
# backtracks only for back-references). Patterns are held to what both read alike: RE2's syntax
# without back-references or look-around (RE2 refuses them), escapes limited to the shared
# ones (``\b`` is a word boundary in RE2 but a backspace in PostgreSQL), no inline flags but a
# leading ``(?i)``, no named groups, repetition counts up to PostgreSQL's 255; ``.`` matches a
# newline in both. SQLite's REGEXP runs RE2 too (signal_handlers), so no engine backtracks.
#
# The classes differ too: RE2's ``\w``, ``\d``, ``\s`` and ``[[:alpha:]]`` are ASCII (and its
# ``\s`` leaves out the vertical tab), PostgreSQL's follow the database's locale (``\w``
# matches "é" under C.UTF-8). So both engines get the same explicit ASCII sets instead: the
# pattern is rewritten once (``common_pattern``), and the rewritten text is what RE2 compiles
# and what SQL receives. Case folding under ``(?i)`` is the one locale-dependent part left
# (RE2 folds all of Unicode, PostgreSQL what its locale knows; the same for ASCII).
_SHARED_ESCAPES = set("dDsSwWntrfv")
_REPEAT = re.compile(r"\{(\d+)(?:,(\d*))?\}")
MAX_REPEAT = 255
_SPACE = " \\t\\n\\r\\f\\v"
_CLASS_SETS = {"d": "0-9", "w": "0-9A-Za-z_", "s": _SPACE}
_POSIX_SETS = {
    "alpha": "A-Za-z",
    "digit": "0-9",
    "alnum": "0-9A-Za-z",
    "upper": "A-Z",
    "lower": "a-z",
    "xdigit": "0-9A-Fa-f",
    "space": _SPACE,
    "blank": " \\t",
    "punct": "!-/:-@\\[-`{-~",
}


def _outside_common_subset(pattern: str) -> str | None:
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            if escaped.isalnum() and escaped not in _SHARED_ESCAPES:
                return (
                    f"\\{escaped} is not supported (use \\d \\s \\w, their capitals, "
                    "or escape punctuation)."
                )
            i += 2
            continue
        group = pattern.startswith("(?", i) and not pattern.startswith("(?:", i)
        if group and not (i == 0 and pattern.startswith("(?i)")):
            return "Only (?:...) groups and a leading (?i) are supported."
        i += 1
    for low, high in _REPEAT.findall(pattern):
        if int(low) > MAX_REPEAT or (high and int(high) > MAX_REPEAT):
            return f"Repetition counts go up to {MAX_REPEAT}."
    return None


def common_pattern(pattern: str) -> str:
    """``pattern`` with its character classes spelt out in ASCII, read alike by RE2 and
    PostgreSQL; ``ValueError`` for a class that has no such spelling where it stands."""
    out: list[str] = []
    in_set = False  # inside [...]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            lower = escaped.lower()
            if lower in _CLASS_SETS:
                members = _CLASS_SETS[lower]
                if not in_set:
                    out.append(f"[{members}]" if escaped == lower else f"[^{members}]")
                elif escaped == lower:
                    out.append(members)
                else:
                    raise ValueError(f"\\{escaped} inside [...] is not supported (use [^...]).")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_set and pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            name = pattern[i + 2 : end] if end != -1 else ""
            if name not in _POSIX_SETS:
                raise ValueError(
                    f"[:{name}:] is not supported (use one of: {', '.join(_POSIX_SETS)})."
                )
            out.append(_POSIX_SETS[name])
            i = end + 2
            continue
        if not in_set and char == "[":
            in_set = True
            out.append(char)
            i += 1
            # a leading ^ and a leading ] are literal parts of the set's syntax
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            if pattern.startswith("]", i):
                out.append("]")
                i += 1
            continue
        if in_set and char == "]":
            in_set = False
        out.append(char)
        i += 1
    return "".join(out)


def compile_regex(pattern: str):
    """A linear-time RE2 pattern (``.search``, ``.pattern`` as ``re``), or ``ValueError``.

    ``.pattern`` is the rewritten text (``common_pattern``): the one to give SQL."""
    import re2

    problem = _outside_common_subset(pattern)
    if problem:
        raise ValueError(problem)
    rewritten = common_pattern(pattern)
    options = re2.Options()
    options.log_errors = False
    options.dot_nl = True  # as PostgreSQL's '.', which matches a newline
    try:
        return re2.compile(rewritten, options)
    except re2.error as exc:
        message = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(f"Invalid regular expression: {message}.") from None


@functools.lru_cache(maxsize=256)
def _sqlite_pattern(pattern: str):
    import re2

    options = re2.Options()
    options.log_errors = False
    options.dot_nl = True
    try:
        return re2.compile(pattern, options)
    except re2.error:
        return re.compile(pattern)


def sqlite_regexp(pattern: str | None, string: object) -> bool | None:
    """SQLite's REGEXP function (``string REGEXP pattern``), in linear time."""
    if pattern is None or string is None:
        return None
    return _sqlite_pattern(pattern).search(str(string)) is not None


def regex(params: dict, name: str):
    pattern = param(params, name, (str,))
    if len(pattern) > 200:
        raise ConditionError(f"params.{name}", "At most 200 characters.")
    try:
        return compile_regex(pattern)
    except ValueError as exc:
        raise ConditionError(f"params.{name}", str(exc)) from None


def compare(op: str, left, value, value2=None) -> bool:
    if op == "between":
        return value <= left <= value2
    return OPERATORS[op](left, value)


def range_params(params: dict, name: str = "value") -> tuple[str, int | float, int | float | None]:
    op = choice(params, "op", RANGE_OPS)
    value = param(params, name, (int, float))
    value2 = None
    if op == "between":
        value2 = param(params, f"{name}2", (int, float))
        if value2 < value:
            raise ConditionError(f"params.{name}2", f"Must not be less than {name}.")
    return op, value, value2


def range_q(expression, op: str, value, value2=None) -> Q:
    from django.db.models import lookups

    classes = {
        "gte": lookups.GreaterThanOrEqual,
        "lte": lookups.LessThanOrEqual,
        "exact": lookups.Exact,
        "gt": lookups.GreaterThan,
        "lt": lookups.LessThan,
    }
    if op == "between":
        return Q(lookups.GreaterThanOrEqual(expression, value)) & Q(
            lookups.LessThanOrEqual(expression, value2)
        )
    return Q(classes[LOOKUPS[op]](expression, value))
