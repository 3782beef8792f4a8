"""Conditions on the stored profile: each is a predicate on the snapshot and a filter on
``VisitorProfile`` from the same parameters."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Mod
from django.db.models.lookups import LessThan
from django.utils import timezone
from django.utils.dateparse import parse_date

from ..consent.models import ConsentRecord
from ..consent.purposes import PURPOSES
from ..consent.services import effective_consent
from ..profiles.models import SAMPLE_SCALE, sample_bucket
from .base import (
    RANGE_OPS,
    Condition,
    ConditionError,
    EvalContext,
    QContext,
    choice,
    compare,
    param,
    range_params,
    range_q,
    regex,
    window,
)
from .expressions import counter_sum, json_type_is
from .fields import SITE_ZONE, one_of, range_fields, when
from .fields import field as param_field

DIMENSION_PREFIXES = ("tag:", "category:", "page:", "page_type:")


def _event_fields(value_label: str) -> list[dict[str, Any]]:
    return [
        param_field("event", "text", "Event", placeholder="page_view"),
        param_field(
            "dimension",
            "text",
            "Only for",
            required=False,
            placeholder="tag:pricing",
            help="Optional: tag:, category:, page: or page_type: followed by a value.",
        ),
        *range_fields(RANGE_OPS, value_label),
        param_field("within", "window", "Within", required=False, allow_ever=True),
    ]


class EventCount(Condition):
    type = "event_count"
    label = "Did something N times"
    description = (
        "Count of an event type (optionally one tag, category, page or page type) "
        "in the last hours or days, or ever. 'Has not done X' is == 0."
    )
    time_dependent = True
    column = "count"
    fields = _event_fields("Times")

    def __init__(self, params):
        super().__init__(params)
        self.event = param(params, "event", (str,))
        self.dimension = param(params, "dimension", (str,), required=False, default="")
        if self.dimension and not self.dimension.startswith(DIMENSION_PREFIXES):
            raise ConditionError(
                "params.dimension", f"Must start with one of: {', '.join(DIMENSION_PREFIXES)}."
            )
        self.dimension = self.dimension.lower()
        self.op, self.value, self.value2 = range_params(params)
        self.within = window(params)
        self.time_dependent = self.within is not None

    def observed(self, ctx: EvalContext):
        return ctx.snapshot.count(self.event, self.dimension, within=self.within, now=ctx.now)

    def matches(self, ctx: EvalContext) -> bool:
        return compare(self.op, self.observed(ctx), self.value, self.value2)

    def changes_at(self, ctx: EvalContext) -> datetime | None:
        return ctx.snapshot.window_changes_at(self.event, self.dimension, self.within, ctx.now)

    def to_q(self, ctx: QContext) -> Q:
        total = counter_sum(self.event, self.dimension, self.within, ctx.now, self.column)
        return range_q(total, self.op, self.value, self.value2)


class ValueSum(EventCount):
    type = "value_sum"
    label = "Spent (sum of value)"
    description = "Sum of the 'value' property of an event type (e.g. purchases) in a window."
    column = "value"
    fields = _event_fields("Amount")

    def observed(self, ctx: EvalContext):
        total = ctx.snapshot.value_sum(self.event, self.dimension, within=self.within, now=ctx.now)
        return Decimal(str(round(total, 2)))

    def matches(self, ctx: EvalContext) -> bool:
        value2 = None if self.value2 is None else Decimal(str(self.value2))
        return compare(self.op, self.observed(ctx), Decimal(str(self.value)), value2)


class _Moment(Condition):
    """first_seen / last_seen: before or after a date (from midnight in the site's time zone),
    or within a recent window."""

    description = (
        "Before or after a date (days start at midnight in the site's TIME_ZONE), "
        "or within a recent window."
    )

    field = ""
    time_dependent = True
    fields = [
        param_field(
            "op", "select", "When", options=["before", "after", "within"], default="within"
        ),
        param_field(
            "date",
            "date",
            "Date",
            help=f"Days start at midnight in the site's time zone ({SITE_ZONE}).",
            **when("op", "before", "after"),
        ),
        param_field("within", "window", "In the last", allow_ever=False, **when("op", "within")),
    ]

    def __init__(self, params):
        super().__init__(params)
        self.op = choice(params, "op", self.options("op"))
        if self.op == "within":
            self.within = window(params)
            if self.within is None:
                raise ConditionError("params.within", "Required.")
        else:
            raw = param(params, "date", (str,))
            parsed = parse_date(raw) if len(raw) == 10 else None
            if parsed is None:
                raise ConditionError("params.date", "Must be a date, YYYY-MM-DD.")
            self.date = parsed
            self.time_dependent = False

    def _bound(self, now: datetime) -> datetime:
        if self.op == "within":
            return now - self.within
        # Midnight in the site's time zone (TIME_ZONE), in memory and in SQL alike: the bulk
        # recompute cannot know each visitor's zone, and both sides must agree.
        midnight = datetime(self.date.year, self.date.month, self.date.day)
        return timezone.make_aware(midnight, timezone.get_default_timezone())

    def matches(self, ctx: EvalContext) -> bool:
        moment = getattr(ctx.snapshot, self.field)
        if moment is None:
            return False
        bound = self._bound(ctx.now)
        return moment < bound if self.op == "before" else moment >= bound

    def changes_at(self, ctx: EvalContext) -> datetime | None:
        moment = getattr(ctx.snapshot, self.field)
        if self.op != "within" or moment is None:
            return None
        leaves = moment + self.within + timedelta(microseconds=1)  # 'within' includes the bound
        return leaves if leaves > ctx.now else None

    def to_q(self, ctx: QContext) -> Q:
        bound = self._bound(ctx.now)
        lookup = "lt" if self.op == "before" else "gte"
        return Q(**{f"{self.field}__{lookup}": bound})


class FirstSeen(_Moment):
    type = "first_seen"
    label = "First seen"
    field = "first_seen"


class LastSeen(_Moment):
    type = "last_seen"
    label = "Last seen"
    field = "last_seen"


class VisitCount(Condition):
    type = "visit_count"
    label = "Number of visits"
    fields = range_fields(RANGE_OPS, "Visits")

    def __init__(self, params):
        super().__init__(params)
        self.op, self.value, self.value2 = range_params(params)

    def matches(self, ctx: EvalContext) -> bool:
        return compare(self.op, ctx.snapshot.visit_count, self.value, self.value2)

    def to_q(self, ctx: QContext) -> Q:
        from django.db.models import F

        return range_q(F("visit_count"), self.op, self.value, self.value2)


class Returning(Condition):
    type = "returning"
    label = "New or returning"
    description = "value true: more than one visit; false: a first-time visitor."
    fields = [
        param_field(
            "value",
            "bool",
            "Returning",
            true_label="Returning visitor",
            false_label="First-time visitor",
        )
    ]

    def __init__(self, params):
        super().__init__(params)
        self.value = param(params, "value", (bool,))

    def matches(self, ctx: EvalContext) -> bool:
        return (ctx.snapshot.visit_count > 1) == self.value

    def to_q(self, ctx: QContext) -> Q:
        return Q(visit_count__gt=1) if self.value else Q(visit_count__lte=1)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


NUMBER_OPS = ["gt", "gte", "lt", "lte"]
TEXT_OPS = ["contains", "starts_with", "ends_with", "regex"]


def _json_value_fields(ops: list[str]) -> list[dict[str, Any]]:
    """Name, operator, and the one value input that suits the chosen operator."""
    fields = [
        param_field("name", "text", "Name", placeholder="tier"),
        param_field("op", "select", "Operator", options=ops, default=ops[0]),
    ]
    present = set(ops)
    if present & {"equals", "not_equals"}:
        fields.append(
            param_field(
                "value",
                "scalar",
                "Value",
                help="Numbers are compared as numbers, anything else as text.",
                **when("op", "equals", "not_equals"),
            )
        )
    if "in" in present:
        fields.append(
            param_field("value", "list", "Values", coerce_numbers=True, **when("op", "in"))
        )
    text_ops = [op for op in TEXT_OPS if op in present]
    if text_ops:
        fields.append(param_field("value", "text", "Text", **when("op", *text_ops)))
    number_ops = [op for op in NUMBER_OPS if op in present]
    if number_ops:
        fields.append(param_field("value", "number", "Number", **when("op", *number_ops)))
    date_ops = [op for op in ("date_before", "date_after") if op in present]
    if date_ops:
        fields.append(param_field("value", "date", "Date", **when("op", *date_ops)))
    return fields


class _JSONValue(Condition):
    """A comparison on one key of a JSON field of the profile (traits, predicted scores)."""

    json_field = "traits"
    fields = _json_value_fields(
        [
            "equals",
            "not_equals",
            "in",
            "contains",
            "starts_with",
            "ends_with",
            "regex",
            "gt",
            "gte",
            "lt",
            "lte",
            "date_before",
            "date_after",
            "exists",
            "missing",
        ]
    )

    def __init__(self, params):
        super().__init__(params)
        self.name = param(params, "name", (str,))
        from ..profiles.traits import TRAIT_NAME_RE

        if not TRAIT_NAME_RE.match(self.name):
            raise ConditionError("params.name", "Letters, digits and '_', up to 64 characters.")
        self.op = choice(params, "op", self.options("op"))
        self.value: Any = None
        if self.op in {"equals", "not_equals"}:
            self.value = param(params, "value", (str, int, float))
        elif self.op == "in":
            self.value = param(params, "value", (list,))
            if not self.value or any(
                not isinstance(v, str | int | float) or isinstance(v, bool) for v in self.value
            ):
                raise ConditionError("params.value", "A non-empty list of strings or numbers.")
        elif self.op in {"contains", "starts_with", "ends_with"}:
            self.value = param(params, "value", (str,))
        elif self.op == "regex":
            self.pattern = regex(params, "value")
            self.value = self.pattern.pattern
        elif self.op in {"gt", "gte", "lt", "lte"}:
            self.value = param(params, "value", (int, float))
        elif self.op in {"date_before", "date_after"}:
            self.value = param(params, "value", (str,))
            if parse_date(self.value[:10]) is None or len(self.value) != 10:
                raise ConditionError("params.value", "Must be a date, YYYY-MM-DD.")

    def _values(self, ctx: EvalContext) -> dict:
        return getattr(ctx.snapshot, self.json_field)

    def matches(self, ctx: EvalContext) -> bool:
        values = self._values(ctx)
        present = self.name in values
        if self.op == "exists":
            return present
        if self.op == "missing":
            return not present
        if not present:
            return False
        v = values[self.name]
        op = self.op
        if op in {"equals", "not_equals", "in"}:

            def same(a, b):
                if isinstance(a, bool) or isinstance(b, bool):
                    return False
                if isinstance(a, str) != isinstance(b, str):
                    return False
                return a == b

            hit = any(same(v, x) for x in self.value) if op == "in" else same(v, self.value)
            return hit if op != "not_equals" else not hit
        if op in {"gt", "gte", "lt", "lte"}:
            return _is_number(v) and compare(
                {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op], v, self.value
            )
        if not isinstance(v, str):
            return False
        if op == "contains":
            return self.value in v
        if op == "starts_with":
            return v.startswith(self.value)
        if op == "ends_with":
            return v.endswith(self.value)
        if op == "regex":
            return self.pattern.search(v) is not None
        if op == "date_before":
            return v[:10] < self.value
        return v[:10] > self.value  # date_after

    def to_q(self, ctx: QContext) -> Q:
        key = f"{self.json_field}__{self.name}"
        has = Q(**{f"{self.json_field}__has_key": self.name})
        op = self.op
        if op == "exists":
            return has
        if op == "missing":
            return ~has
        # A missing key must be a definite False in SQL, not NULL: NOT(NULL) is NULL, so
        # "not (churn > 0.5)" would drop the profiles without a churn score that match in memory.
        return has & self._value_q(key, op)

    def _value_q(self, key: str, op: str) -> Q:
        is_string = json_type_is(self.json_field, self.name, "string")
        is_number = json_type_is(self.json_field, self.name, "number")
        if op in {"equals", "not_equals", "in"}:
            values = self.value if op == "in" else [self.value]
            hit = Q()
            for v in values:
                if isinstance(v, str):
                    hit |= is_string & Q(**{f"{key}__exact": v})
                else:
                    hit |= is_number & Q(**{f"{key}__exact": v})
            return hit if op != "not_equals" else ~hit
        if op in {"gt", "gte", "lt", "lte"}:
            return is_number & Q(**{f"{key}__{op}": self.value})
        text = KT(key)
        if op == "contains":
            return is_string & Q(_contains(text, self.value))
        if op in {"starts_with", "ends_with"}:
            from django.db.models import Value
            from django.db.models.functions import Right, Substr
            from django.db.models.lookups import Exact

            n = len(self.value)
            part = Substr(text, 1, n) if op == "starts_with" else Right(text, n)
            return is_string & Q(Exact(part, Value(self.value)))
        if op == "regex":
            from django.db.models.lookups import Regex

            return is_string & Q(Regex(text, self.value))
        from django.db.models.functions import Substr
        from django.db.models.lookups import GreaterThan

        head = Substr(text, 1, 10)
        if op == "date_before":
            return is_string & Q(LessThan(head, self.value))
        return is_string & Q(GreaterThan(head, self.value))


def _contains(expression, value: str):
    """Case-sensitive substring test on both databases (SQLite's LIKE ignores case)."""
    from django.db.models import Value
    from django.db.models.functions import StrIndex
    from django.db.models.lookups import GreaterThan

    return GreaterThan(StrIndex(expression, Value(value)), 0)


class Trait(_JSONValue):
    type = "trait"
    label = "Trait"
    description = "A trait set by the site (e.g. tier, age band), compared with an operator."


class Score(_JSONValue):
    type = "score"
    label = "Predicted score"
    description = "A score filled by the scoring models (e.g. churn, purchase propensity)."
    json_field = "predicted_scores"
    fields = _json_value_fields([*NUMBER_OPS, "exists", "missing"])


class Persona(Condition):
    type = "persona"
    label = "Persona"
    description = (
        "One of the personas the clustering model assigns, by key (e.g. persona-3): keys survive "
        "retraining and renaming; a retired persona's key matches nobody."
    )
    fields = one_of("Personas", "bargain_hunter, researcher")

    def __init__(self, params):
        super().__init__(params)
        self.values = param(params, "in", (list,))
        if not self.values or any(
            not isinstance(v, str) or not v or len(v) > 64 for v in self.values
        ):
            raise ConditionError("params.in", "A non-empty list of persona keys.")

    def matches(self, ctx: EvalContext) -> bool:
        return ctx.snapshot.persona in self.values

    def to_q(self, ctx: QContext) -> Q:
        return Q(persona__in=self.values)


class Consent(Condition):
    type = "consent"
    label = "Consent"
    description = "The visitor's stored consent for a purpose (defaults apply without an answer)."
    fields = [
        param_field("purpose", "select", "Purpose", options=list(PURPOSES), default="marketing"),
        param_field("granted", "bool", "Answer", true_label="Granted", false_label="Refused"),
    ]

    def __init__(self, params):
        super().__init__(params)
        self.purpose = choice(params, "purpose", self.options("purpose"))
        self.granted = param(params, "granted", (bool,))

    def matches(self, ctx: EvalContext) -> bool:
        return effective_consent(ctx.snapshot.consent)[self.purpose] == self.granted

    def to_q(self, ctx: QContext) -> Q:
        records = ConsentRecord.objects.filter(
            visitor_id=OuterRef("visitor_id"), purpose=self.purpose
        )
        granted = Q(Exists(records.filter(granted=True)))
        if effective_consent({})[self.purpose]:
            granted |= ~Q(Exists(records))
        return granted if self.granted else ~granted


def sample_offset(segment_slug: str) -> int:
    return int(hashlib.sha256(segment_slug.encode()).hexdigest()[:8], 16) % SAMPLE_SCALE


class RandomSample(Condition):
    type = "random_sample"
    label = "Random sample"
    description = "A stable share of visitors, by a hash of visitor id and segment."
    fields = [param_field("percent", "number", "Percent", min=0, max=100, step="any")]

    def __init__(self, params):
        super().__init__(params)
        self.percent = param(params, "percent", (int, float))
        if not 0 <= self.percent <= 100:
            raise ConditionError("params.percent", "Must be from 0 to 100.")

    def matches(self, ctx: EvalContext) -> bool:
        if ctx.visitor_id.int == 0:
            return False  # a visitor without an id has no stable place in a sample
        bucket = (sample_bucket(ctx.visitor_id) + sample_offset(ctx.segment_slug)) % SAMPLE_SCALE
        return bucket < self.percent * SAMPLE_SCALE / 100

    def to_q(self, ctx: QContext) -> Q:
        from django.db.models import F, Value

        shifted = Mod(F("sample_bucket") + Value(sample_offset(ctx.segment_slug)), SAMPLE_SCALE)
        return Q(LessThan(shifted, self.percent * SAMPLE_SCALE / 100))


class MemberOf(Condition):
    type = "segment"
    label = "Member of another segment"
    fields = [param_field("segment", "select", "Segment", options=[], free=True)]

    @classmethod
    def param_fields(cls, segment_choices=None):
        options = [
            {"value": slug, "label": f"{name} ({slug})"} for slug, name in segment_choices or []
        ]
        return [{**cls.fields[0], "options": options}]

    def __init__(self, params):
        super().__init__(params)
        self.slug = param(params, "segment", (str,))

    def references(self) -> set[str]:
        return {self.slug}

    def matches(self, ctx: EvalContext) -> bool:
        return self.slug in ctx.segments

    def to_q(self, ctx: QContext) -> Q:
        try:
            return ctx.member_q[self.slug]
        except KeyError:
            return Q(pk__in=[])  # an unknown or disabled segment has no members


PROFILE_CONDITIONS = [
    EventCount,
    ValueSum,
    FirstSeen,
    LastSeen,
    VisitCount,
    Returning,
    Trait,
    Score,
    Persona,
    Consent,
    RandomSample,
    MemberOf,
]
