"""Database expressions the conditions share: counter sums and JSON value types."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import (
    DecimalField,
    Expression,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from ..conf import get_setting
from ..profiles.buckets import EPOCH, daily_horizon, day_start, hour_start, hourly_horizon
from ..profiles.models import Granularity, ProfileCounter


def bucket_filter(within: timedelta | None, now: datetime) -> Q:
    """The same bucket choice as ``ProfileSnapshot.count``: hours inside the hourly window,
    days beyond it, the all-time row for "ever"."""
    if within is None:
        return Q(granularity=Granularity.TOTAL, bucket=EPOCH)
    since = now - within
    if since >= hourly_horizon(now, get_setting("HOURLY_COUNTER_HOURS")):
        return Q(granularity=Granularity.HOUR, bucket__gte=hour_start(since))
    floor = max(day_start(since), daily_horizon(now, get_setting("DAILY_COUNTER_DAYS")))
    return Q(granularity=Granularity.DAY, bucket__gte=floor)


def counter_sum(
    event_type: str, dimension: str, within: timedelta | None, now: datetime, column: str
) -> Expression:
    """Sum of a counter column for the outer profile; 0 when it has none."""
    rows = (
        ProfileCounter.objects.filter(
            bucket_filter(within, now),
            profile=OuterRef("pk"),
            event_type=event_type,
            dimension=dimension,
        )
        .order_by()
        .values("profile")
        .annotate(total=Sum(column))
        .values("total")
    )
    output = IntegerField() if column == "count" else DecimalField(max_digits=16, decimal_places=2)
    return Coalesce(Subquery(rows, output_field=output), Value(0), output_field=output)


class JSONTypeOf(Expression):
    """The JSON type of ``field[key]``: 'string', 'number', 'boolean', ... or NULL if absent.

    PostgreSQL's ``jsonb_typeof`` and SQLite's ``json_type`` name types differently; both are
    mapped to the PostgreSQL names so one filter serves both.
    """

    def __init__(self, field_name: str, key: str):
        from django.db.models import CharField

        super().__init__(output_field=CharField())
        self.field_name, self.key = field_name, key

    def resolve_expression(
        self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False
    ):
        clone = self.copy()
        clone.column = query.resolve_ref(self.field_name, allow_joins, reuse, summarize)
        return clone

    def as_sql(self, compiler, connection):
        column_sql, params = compiler.compile(self.column)
        if connection.vendor == "sqlite":
            sql = (
                f"CASE json_type({column_sql}, %s) WHEN 'text' THEN 'string' "
                f"WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' "
                f"WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' "
                f"ELSE json_type({column_sql}, %s) END"
            )
            path = f"$.{self.key}"
            return sql, [*params, path, *params, path]
        return f"jsonb_typeof({column_sql} -> %s)", [*params, self.key]


def json_type_is(field: str, key: str, json_type: str) -> Q:
    from django.db.models.lookups import Exact

    return Q(Exact(JSONTypeOf(field, key), json_type))
