"""Database expressions the conditions share: counter sums and JSON value types."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import (
    CharField,
    DecimalField,
    Exists,
    Expression,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from ..conf import get_setting
from ..profiles.buckets import (
    EPOCH,
    daily_horizon,
    day_start,
    fine_start,
    hour_start,
    hourly_horizon,
)
from ..profiles.models import Granularity, ProfileCounter


def bucket_filter(within: timedelta | None, now: datetime) -> Q:
    """The same bucket choice as ``ProfileSnapshot.count``: inside the hourly window the whole
    hours from hourly buckets and the oldest, partial hour from 5-minute buckets (or from its
    hourly bucket when it has none: folded before they existed); days beyond it; the all-time
    row for "ever"."""
    if within is None:
        return Q(granularity=Granularity.TOTAL, bucket=EPOCH)
    since = now - within
    if since >= hourly_horizon(now, get_setting("HOURLY_COUNTER_HOURS")):
        edge = hour_start(since)
        if edge < since:
            edge += timedelta(hours=1)
        chosen = Q(granularity=Granularity.HOUR, bucket__gte=edge) | Q(
            granularity=Granularity.FIVE_MINUTES, bucket__gte=fine_start(since), bucket__lt=edge
        )
        if edge > since:
            partial = edge - timedelta(hours=1)
            fine_rows = ProfileCounter.objects.filter(
                profile=OuterRef("profile"),
                event_type=OuterRef("event_type"),
                dimension=OuterRef("dimension"),
                granularity=Granularity.FIVE_MINUTES,
                bucket__gte=partial,
                bucket__lt=edge,
            )
            chosen |= Q(granularity=Granularity.HOUR, bucket=partial) & ~Q(Exists(fine_rows))
        return chosen
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


class JSONTypeOf(Func):
    """The JSON type of ``field[key]``: 'string', 'number', 'boolean', ... or NULL if absent.

    PostgreSQL's ``jsonb_typeof`` and SQLite's ``json_type`` name types differently; both are
    mapped to the PostgreSQL names so one filter serves both. A ``Func`` over ``F(field)``, so
    it resolves and relabels like any expression when used inside a subquery.
    """

    output_field = CharField()

    def __init__(self, field_name: str, key: str):
        super().__init__(F(field_name))
        self.key = key

    def as_sql(self, compiler, connection, **extra_context):
        column_sql, params = compiler.compile(self.source_expressions[0])
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
