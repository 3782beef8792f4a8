"""One multi-row ``INSERT ... ON CONFLICT`` statement, for the two hot writes that need it.

Django's ``bulk_create`` can skip conflicts or overwrite them, but it cannot add to the stored
value (counters) or say which rows it really inserted (idempotent events). PostgreSQL and SQLite
(3.35+) share this syntax, so one statement serves both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, models


def insert_on_conflict(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence],
    conflict: Sequence[str],
    *,
    add: Sequence[str] = (),
    ceilings: dict[str, object] | None = None,
    returning: str | None = None,
    chunk: int = 500,
) -> list:
    """Insert ``rows`` (values in ``columns`` order); on a ``conflict`` either do nothing or add
    the new values of the ``add`` columns to the stored ones, stopping at ``ceilings`` (column
    name to the largest value it may hold; inserted values must not exceed it already). Returns
    the ``returning`` column of the rows inserted or updated (with ``add=()``: only the rows
    really inserted)."""
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in columns]
    table = quote(model._meta.db_table)
    column_sql = ", ".join(quote(f.column) for f in fields)
    conflict_sql = ", ".join(quote(model._meta.get_field(name).column) for name in conflict)
    ceiling_params: list = []
    if add:
        assignments = []
        for name in add:
            field = model._meta.get_field(name)
            column = quote(field.column)
            total = f"{table}.{column} + EXCLUDED.{column}"
            if ceilings and name in ceilings:
                # CASE rather than LEAST (SQLite has none); CAST as SQLite binds decimals as text.
                cap = "CAST(%s AS NUMERIC)"
                total = f"CASE WHEN {total} > {cap} THEN {cap} ELSE {total} END"
                ceiling_params += [field.get_db_prep_save(ceilings[name], connection)] * 2
            assignments.append(f"{column} = {total}")
        action = f"DO UPDATE SET {', '.join(assignments)}"
    else:
        action = "DO NOTHING"
    tail = f" RETURNING {quote(model._meta.get_field(returning).column)}" if returning else ""
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    rows = list(rows)
    found: list = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            params = [
                field.get_db_prep_save(value, connection)
                for row in part
                for field, value in zip(fields, row, strict=True)
            ]
            values = ", ".join([placeholder] * len(part))
            # Identifiers come from the model's metadata, quoted; every value is a parameter.
            sql = (
                f"INSERT INTO {table} ({column_sql}) VALUES {values} "  # noqa: S608
                f"ON CONFLICT ({conflict_sql}) {action}{tail}"
            )
            cursor.execute(sql, params + ceiling_params)
            if returning:
                found.extend(value for (value,) in cursor.fetchall())
    return found


def lock_visitor(visitor_id) -> None:
    """Serialise writers of one visitor until the surrounding transaction ends.

    Folding events and erasing a visitor both take it first, so an erasure never interleaves with
    a fold that would recreate what it removed. On PostgreSQL a transaction-level advisory lock
    on the id's top 63 bits; SQLite allows one writer at a time anyway.
    """
    if connection.vendor != "postgresql":
        return
    key = int(str(visitor_id).replace("-", "")[:16], 16) >> 1  # fits a signed bigint
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
