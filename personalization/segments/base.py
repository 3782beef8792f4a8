"""The contract every condition type fulfils, and the context it is evaluated in.

A condition is one class with both a per-request predicate (``matches``) and, for conditions on
the stored profile, a database filter (``to_q``) built from the same parameters. Conditions on
the request (device of this request, local time, referrer...) have no ``to_q``: they cannot be
known in bulk, so membership treats them as "may match" and the decision checks them live.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.db.models import Q

from ..profiles.snapshot import ProfileSnapshot
from ..types import RequestContext

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

    def __init__(self, params: dict[str, Any]):
        self.params = params

    def matches(self, ctx: EvalContext) -> bool:
        raise NotImplementedError

    def to_q(self, ctx: QContext) -> Q:
        raise NotImplementedError(f"{self.type} is evaluated per request")

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
UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


def param(params: dict, name: str, types: tuple[type, ...], *, required: bool = True, default=None):
    value = params.get(name, default)
    if value is None:
        if required:
            raise ConditionError(f"params.{name}", "Required.")
        return default
    if isinstance(value, bool) and bool not in types:
        raise ConditionError(f"params.{name}", f"Must be {_names(types)}.")
    if not isinstance(value, types):
        raise ConditionError(f"params.{name}", f"Must be {_names(types)}.")
    return value


def _names(types: tuple[type, ...]) -> str:
    names = {
        int: "a number",
        float: "a number",
        str: "a string",
        bool: "true or false",
        list: "a list",
        dict: "an object",
    }
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))


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
    if unit not in UNITS:
        raise ConditionError(f"params.{name}.unit", f"Must be one of: {', '.join(UNITS)}.")
    seconds = amount * UNITS[unit]
    if seconds > 400 * 86400:
        raise ConditionError(f"params.{name}", "At most 400 days.")
    return timedelta(seconds=seconds)


def regex(params: dict, name: str) -> re.Pattern:
    pattern = param(params, name, (str,))
    if len(pattern) > 200:
        raise ConditionError(f"params.{name}", "At most 200 characters.")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConditionError(f"params.{name}", f"Invalid regular expression: {exc}.") from None


def compare(op: str, left, value, value2=None) -> bool:
    if op == "between":
        return value <= left <= value2
    return OPERATORS[op](left, value)


def range_params(params: dict, name: str = "value") -> tuple[str, int | float, int | float | None]:
    op = choice(params, "op", [*LOOKUPS, "between"])
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
